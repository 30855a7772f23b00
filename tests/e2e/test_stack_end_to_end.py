"""The whole stack as a client sees it, through the gateway only: sign up, connect Spotify
through the fake's authorize redirect, play a track on the fake, see it on now-playing and on
the live stream within the watcher's interval plus one second, pause it from the API, and find
it in the history once it has ended.

Every service runs as its own process (auth, tokens, watcher, playback, gateway and the fake),
with topics and consumer groups of this test's own. The fake runs in real time, so the track
is the catalogue's shortest and is heard for just over half of it (the play rule).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.e2e.full_stack import WATCH_INTERVAL_S, FullStack
from tests.gateway.stack import Account, connect_spotify, sign_up

pytestmark = pytest.mark.integration

# How soon a change must show: the watcher's interval plus one second.
BOUND_S = WATCH_INTERVAL_S + 1.0


async def until(check, what: str, within_s: float) -> float:  # type: ignore[no-untyped-def]
    """Seconds until ``check()`` is true; fails naming ``what`` after ``within_s``."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within_s:
            raise AssertionError(f"{what} not seen within {within_s} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def live_events(
    http: httpx.AsyncClient, account: Account, ready: asyncio.Event
) -> AsyncIterator[dict]:
    """The stream's events; ``ready`` is set at its first frame (``retry:``), which the
    service sends once the stream is subscribed to the user's events."""
    async with http.stream("GET", "/api/playback/stream", headers=account.headers) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        async for line in stream.aiter_lines():
            if line.startswith("retry:"):
                ready.set()
            elif line.startswith("data:"):
                yield json.loads(line[5:])


async def test_a_listener_sees_what_they_play_live_pauses_it_and_finds_it_in_history(
    whole_stack: FullStack,
) -> None:
    gateway, fake = whole_stack.gateway.url, whole_stack.fake.url
    account = await asyncio.to_thread(sign_up, gateway)
    spotify_user = await asyncio.to_thread(connect_spotify, gateway, fake, account)
    async with (
        httpx.AsyncClient(base_url=gateway, timeout=30) as http,
        httpx.AsyncClient(base_url=fake, timeout=30) as spotify,
    ):
        catalogue = (await spotify.get("/_control/catalog", params={"limit": 5000})).json()
        track = min(catalogue["items"], key=lambda item: item["duration_ms"])
        # The watcher has picked the new connection up once it polls the (idle) player.
        await asyncio.sleep(BOUND_S)

        seen_live: list[dict] = []
        live = asyncio.Event()

        async def follow() -> None:
            async for event in live_events(http, account, live):
                seen_live.append(event)

        follower = asyncio.create_task(follow())
        # The stream is live before the music starts.
        await asyncio.wait_for(live.wait(), timeout=10)
        played = await spotify.put(
            f"/_control/users/{spotify_user}/playback",
            json={"track_id": track["id"], "is_playing": True, "progress_ms": 0},
        )
        assert played.status_code in (200, 204), played.text
        started = time.monotonic()

        async def now_shows_the_track() -> bool:
            now = await http.get("/api/playback/now", headers=account.headers)
            return now.status_code == 200 and now.json()["track"]["id"] == track["id"]

        async def stream_shows_the_track() -> bool:
            return any(track["id"] in json.dumps(event) for event in seen_live)

        await until(now_shows_the_track, "now playing", BOUND_S)
        remaining = BOUND_S - (time.monotonic() - started)
        await until(stream_shows_the_track, "the live stream", remaining)

        paused = await http.post("/api/playback/player/pause", headers=account.headers)
        assert paused.status_code == 204, paused.text
        player = (await spotify.get(f"/_control/users/{spotify_user}")).json()["player"]
        assert player["is_playing"] is False
        resumed = await http.post("/api/playback/player/play", headers=account.headers)
        assert resumed.status_code == 204, resumed.text

        # Heard for just over half of it, then the player goes away: the play rule counts it.
        await asyncio.sleep(track["duration_ms"] / 2000 + 2 * WATCH_INTERVAL_S)
        stopped = await spotify.put(
            f"/_control/users/{spotify_user}/playback", json={"track_id": None}
        )
        assert stopped.status_code in (200, 204), stopped.text

        async def history_has_the_play() -> bool:
            history = await http.get("/api/playback/history", headers=account.headers)
            return [item["track"]["id"] for item in history.json()["items"]] == [track["id"]]

        await until(history_has_the_play, "the play in history", 4 * BOUND_S)
        follower.cancel()
