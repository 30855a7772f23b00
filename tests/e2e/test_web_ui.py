"""The web UI in headless Chromium, as a person uses it: create an account, sign in, connect
Spotify through the Spotify fake's consent page, and watch now playing update live.

Playback events come from the playback stand-in (the real playback service and the watcher
are not wired into this stack yet): the test puts on a track in the Spotify fake, and hands
the stand-in the now-playing state the playback service would stream for it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.stack import PASSWORD, Stack, new_email

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000

if not CHROMIUM.exists():
    pytest.skip(
        "Debian's chromium is not installed (/usr/bin/chromium): apt-get install -y chromium",
        allow_module_level=True,
    )

from playwright.async_api import Browser, Page, async_playwright, expect  # noqa: E402


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def screenshots(test_output: Path) -> Path:
    folder = test_output / "e2e"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def now_playing_state(track: dict[str, Any], *, is_playing: bool) -> dict[str, Any]:
    """What the playback service serves as now playing for a track of the fake's catalogue."""
    return {
        "track": {
            "id": track["id"],
            "uri": track["uri"],
            "name": track["name"],
            "artists": [
                {"id": f"artist-{n}", "name": name} for n, name in enumerate(track["artists"])
            ],
            "album_name": track["album"],
            "duration_ms": track["duration_ms"],
        },
        "is_playing": is_playing,
        "progress_ms": 30_000,
        "device": {"id": "fake-device", "name": "Kitchen speaker", "type": "Speaker"},
    }


async def sign_in(page: Page, email: str) -> None:
    await page.get_by_role("tab", name="Sign in").click()
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.locator("#auth-submit").click()


async def test_a_listener_signs_up_connects_spotify_and_sees_now_playing_live(
    stack: Stack, browser: Browser, screenshots: Path
) -> None:
    gateway = stack.main_gateway()
    page = await browser.new_page(viewport={"width": 1200, "height": 900})
    expect.set_options(timeout=WAIT_MS)
    email = new_email()

    # Create an account.
    await page.goto(gateway.url)
    await expect(page.locator("#auth-view")).to_be_visible()
    await page.get_by_role("tab", name="Create account").click()
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account", exact=True).click()
    await expect(page.locator("#account-email")).to_have_text(email)
    await expect(page.locator("#spotify-status")).to_have_text("Not connected")
    await expect(page.locator("#now-empty")).to_contain_text("Connect Spotify")
    await page.screenshot(path=str(screenshots / "1-signed-up.png"))

    # Sign out, and back in: the page forgets the tokens, the account remains.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.locator("#auth-view")).to_be_visible()
    await sign_in(page, "wrong-" + email)
    await expect(page.locator("#auth-error")).to_have_text("Email or password is not right.")
    await sign_in(page, email)
    await expect(page.locator("#account-email")).to_have_text(email)

    # Connect Spotify: the fake's consent page, pick the listener, agree, and back.
    http = httpx.AsyncClient(timeout=30)
    spotify_user = (await http.post(f"{stack.fake.url}/_control/users", json={})).json()["id"]
    await page.get_by_role("button", name="Connect Spotify").click()
    await page.wait_for_url(re.compile(re.escape(stack.fake.url) + r"/authorize"))
    await page.locator("select[name=fake_user]").select_option(spotify_user)
    await page.screenshot(path=str(screenshots / "2-spotify-consent.png"))
    await page.get_by_role("button", name="Agree").click()
    await page.wait_for_url(f"{gateway.url}/")
    await expect(page.locator("#notice-text")).to_have_text("Spotify is connected.")
    await expect(page.locator("#spotify-status")).to_have_text("Connected")
    await expect(page.locator("#now-empty")).to_have_text("Nothing playing right now.")
    await expect(page.locator("#live")).to_have_attribute("data-state", "on")

    # The listener starts a track on Spotify; the playback stream tells the page.
    track = (await http.get(f"{stack.fake.url}/_control/catalog", params={"limit": 1})).json()
    track = (track["items"] if isinstance(track, dict) else track)[0]
    played = await http.put(
        f"{stack.fake.url}/_control/users/{spotify_user}/playback",
        json={"track_id": track["id"], "is_playing": True, "progress_ms": 30_000},
    )
    assert played.status_code == 200, played.text
    me = (
        await http.get(
            f"{gateway.url}/api/auth/me",
            headers={"Authorization": f"Bearer {await access_token(page)}"},
        )
    ).json()
    control = f"{stack.playback.url}/_standin/users/{me['user_id']}"
    state = now_playing_state(track, is_playing=True)
    (await http.put(f"{control}/now", json=state)).raise_for_status()
    assert (await http.post(f"{control}/events", json=state)).json()["streams"] >= 1
    await expect(page.locator("#now-name")).to_have_text(track["name"])
    await expect(page.locator("#now-artists")).to_have_text(", ".join(track["artists"]))
    await expect(page.locator("#now-state")).to_have_text("Playing")
    await expect(page.locator("#now-device")).to_have_text("On Kitchen speaker")
    await page.screenshot(path=str(screenshots / "3-now-playing.png"), full_page=True)

    # Pause from the page: the command goes through, and the stream shows it paused.
    await page.get_by_role("button", name="Pause").click()
    await expect(page.locator("#now-state")).to_have_text("Paused")
    assert (await http.get(control)).json()["commands"] == ["pause"]

    # Disconnect.
    await page.get_by_role("button", name="Disconnect").click()
    await expect(page.locator("#spotify-status")).to_have_text("Not connected")
    await expect(page.locator("#spotify-connect")).to_be_visible()
    await http.aclose()


async def access_token(page: Page) -> str:
    token = await page.evaluate(
        "() => JSON.parse(sessionStorage.getItem('backbeat.session')).accessToken"
    )
    assert isinstance(token, str)
    return token
