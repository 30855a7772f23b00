"""The Spotify fake in-process for player-control tests, and access tokens it accepts."""

from __future__ import annotations

from typing import Any

import httpx

from backbeat.spotify_fake.api.fault_injection import FaultInjection
from backbeat.spotify_fake.app import create_app
from backbeat.spotify_fake.config import FakeConfig
from backbeat.spotify_fake.domain.accounts import ClientAuthentication

REDIRECT_URI = "http://127.0.0.1:8000/api/spotify/callback"
PLAYER_SCOPES = ("user-read-playback-state", "user-modify-playback-state")


def fake_spotify() -> FaultInjection:
    return create_app(FakeConfig(rate_limit=None))


def spotify_http(fake: FaultInjection) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=fake), base_url="http://spotify")


def access_token(
    fake: FaultInjection, spotify_user_id: str, scopes: tuple[str, ...] = PLAYER_SCOPES
) -> str:
    """A token for ``spotify_user_id`` as the authorization-code flow would give one."""
    accounts, now = fake.fake.accounts, fake.fake.now_ms()
    app = accounts.register_app((REDIRECT_URI,))
    request = accounts.check_authorization_request(
        client_id=app.client_id,
        redirect_uri=REDIRECT_URI,
        response_type="code",
        scope=" ".join(scopes),
        state="state",
        code_challenge=None,
        code_challenge_method=None,
    )
    code = accounts.grant_consent(request, spotify_user_id, now)
    issued = accounts.redeem_code(
        ClientAuthentication(app.client_id, app.client_secret),
        code=code,
        redirect_uri=REDIRECT_URI,
        code_verifier=None,
        now_ms=now,
    )
    return issued.access_token


async def player(http: httpx.AsyncClient, spotify_user_id: str) -> dict[str, Any] | None:
    """The fake's record of what the user's player is doing."""
    response = await http.get(f"/_control/users/{spotify_user_id}")
    response.raise_for_status()
    state: dict[str, Any] | None = response.json()["player"]
    return state


async def first_tracks(http: httpx.AsyncClient, count: int) -> list[str]:
    response = await http.get("/_control/catalog", params={"limit": count})
    response.raise_for_status()
    return [item["id"] for item in response.json()["items"]]


async def play(
    http: httpx.AsyncClient, spotify_user_id: str, track_id: str, *, playing: bool = True
) -> None:
    response = await http.put(
        f"/_control/users/{spotify_user_id}/playback",
        json={"track_id": track_id, "is_playing": playing, "progress_ms": 10_000},
    )
    response.raise_for_status()
