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
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from backbeat.auth.store.migrate import upgrade as migrate_auth
from backbeat.playback.store.migrate import upgrade as migrate_playback
from backbeat.runtime.testing import ServiceProcess, free_port, spotify_fake
from backbeat.tokens.store.migrate import upgrade as migrate_tokens
from tests.gateway.stack import Account, connect_spotify, sign_up

pytestmark = pytest.mark.integration

# The watcher's intervals in this test; the bound is "the interval plus one second".
WATCH_INTERVAL_S = 2.0
BOUND_S = WATCH_INTERVAL_S + 1.0
CLIENT_SECRETS = {"watcher": "e2e-watcher-secret", "playback": "e2e-playback-secret"}


@dataclass
class FullStack:
    fake: ServiceProcess
    gateway: ServiceProcess
    processes: list[ServiceProcess]


def provision_clients(auth_database_url: str) -> None:
    for client, secret in CLIENT_SECRETS.items():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "backbeat.auth.clients",
                "ensure",
                "--name",
                client,
                "--audience",
                "tokens",
                "--scope",
                "tokens:read",
                "--secret-env",
                "E2E_CLIENT_SECRET",
            ],
            env={
                **os.environ,
                "BACKBEAT_AUTH_DATABASE_URL": auth_database_url,
                "E2E_CLIENT_SECRET": secret,
            },
            check=True,
            capture_output=True,
        )


@pytest.fixture(scope="module")
def full_stack(database_urls: dict[str, str], kafka_bootstrap: str) -> Iterator[FullStack]:
    migrate_auth(database_urls["auth"])
    migrate_tokens(database_urls["tokens"])
    migrate_playback(database_urls["playback"])
    provision_clients(database_urls["auth"])
    run = uuid.uuid4().hex[:8]
    events_topic = f"e2e.playback.events.{run}"
    connections_topic = f"e2e.spotify.connections.{run}"
    ports = {name: free_port() for name in ("auth", "tokens", "playback", "watcher", "gateway")}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    callback = f"{url['gateway']}/api/spotify/callback"
    common = {"BACKBEAT_ENVIRONMENT": "test", "BACKBEAT_KAFKA_BOOTSTRAP": kafka_bootstrap}
    processes: list[ServiceProcess] = []

    def start(process: ServiceProcess) -> ServiceProcess:
        processes.append(process)
        return process.start(timeout_s=90)

    try:
        fake = start(spotify_fake("--rate-limit", "0"))
        app = httpx.post(f"{fake.url}/_control/clients", json={"redirect_uris": [callback]})
        spotify_app = app.json()
        start(
            ServiceProcess(
                "e2e-auth",
                "backbeat.auth",
                ports["auth"],
                env={
                    **common,
                    "BACKBEAT_AUTH_PORT": str(ports["auth"]),
                    "BACKBEAT_AUTH_DATABASE_URL": database_urls["auth"],
                    "BACKBEAT_AUTH_ISSUER": url["auth"],
                    "BACKBEAT_AUTH_TRUST_FORWARDED_FOR": "true",
                },
            )
        )
        auth_settings = {
            "AUTH_ISSUER": url["auth"],
            "AUTH_JWKS_URL": f"{url['auth']}/.well-known/jwks.json",
        }
        start(
            ServiceProcess(
                "e2e-tokens",
                "backbeat.tokens",
                ports["tokens"],
                env={
                    **common,
                    **{f"BACKBEAT_TOKENS_{k}": v for k, v in auth_settings.items()},
                    "BACKBEAT_TOKENS_PORT": str(ports["tokens"]),
                    "BACKBEAT_TOKENS_DATABASE_URL": database_urls["tokens"],
                    "BACKBEAT_TOKENS_SPOTIFY_CLIENT_ID": spotify_app["client_id"],
                    "BACKBEAT_TOKENS_SPOTIFY_CLIENT_SECRET": spotify_app["client_secret"],
                    "BACKBEAT_TOKENS_SPOTIFY_ACCOUNTS_URL": fake.url,
                    "BACKBEAT_TOKENS_SPOTIFY_API_URL": fake.url,
                    "BACKBEAT_TOKENS_SPOTIFY_REDIRECT_URI": callback,
                    "BACKBEAT_TOKENS_WEB_UI_URL": f"{url['gateway']}/",
                    "BACKBEAT_TOKENS_CONNECTIONS_TOPIC": connections_topic,
                },
            )
        )
        service_client = {
            "AUTH_TOKEN_URL": f"{url['auth']}/oauth/token",
            "TOKENS_URL": url["tokens"],
            "SPOTIFY_API_URL": fake.url,
        }
        start(
            ServiceProcess(
                "e2e-playback",
                "backbeat.playback",
                ports["playback"],
                env={
                    **common,
                    **{f"BACKBEAT_PLAYBACK_{k}": v for k, v in auth_settings.items()},
                    **{f"BACKBEAT_PLAYBACK_{k}": v for k, v in service_client.items()},
                    "BACKBEAT_PLAYBACK_PORT": str(ports["playback"]),
                    "BACKBEAT_PLAYBACK_DATABASE_URL": database_urls["playback"],
                    "BACKBEAT_PLAYBACK_CLIENT_SECRET": CLIENT_SECRETS["playback"],
                    "BACKBEAT_PLAYBACK_EVENTS_TOPIC": events_topic,
                    "BACKBEAT_PLAYBACK_DEAD_LETTER_TOPIC": f"{events_topic}.dlq",
                    "BACKBEAT_PLAYBACK_CONSUMER_GROUP": f"e2e-playback-{run}",
                    "BACKBEAT_PLAYBACK_ERASURE_CONSUMER_GROUP": f"e2e-erasure-{run}",
                },
            )
        )
        start(
            ServiceProcess(
                "e2e-watcher",
                "backbeat.watcher",
                ports["watcher"],
                env={
                    **common,
                    **{f"BACKBEAT_WATCHER_{k}": v for k, v in service_client.items()},
                    "BACKBEAT_WATCHER_PORT": str(ports["watcher"]),
                    "BACKBEAT_WATCHER_CLIENT_SECRET": CLIENT_SECRETS["watcher"],
                    "BACKBEAT_WATCHER_SPOTIFY_ACCOUNTS_URL": fake.url,
                    "BACKBEAT_WATCHER_EVENTS_TOPIC": events_topic,
                    "BACKBEAT_WATCHER_CONNECTIONS_TOPIC": connections_topic,
                    "BACKBEAT_WATCHER_STATE_TOPIC": f"e2e.watcher.state.{run}",
                    "BACKBEAT_WATCHER_CONSUMER_GROUP": f"e2e-watcher-{run}",
                    "BACKBEAT_WATCHER_TRANSACTIONAL_ID_PREFIX": f"e2e-watcher-{run}",
                    "BACKBEAT_WATCHER_ACTIVE_INTERVAL_S": str(WATCH_INTERVAL_S),
                    "BACKBEAT_WATCHER_PAUSED_INTERVAL_S": str(WATCH_INTERVAL_S),
                    "BACKBEAT_WATCHER_IDLE_INTERVAL_S": str(WATCH_INTERVAL_S),
                    "BACKBEAT_WATCHER_LONG_IDLE_INTERVAL_S": str(WATCH_INTERVAL_S),
                },
            )
        )
        gateway = start(
            ServiceProcess(
                "e2e-gateway",
                "backbeat.gateway",
                ports["gateway"],
                env={
                    **common,
                    **{f"BACKBEAT_GATEWAY_{k}": v for k, v in auth_settings.items()},
                    "BACKBEAT_GATEWAY_PORT": str(ports["gateway"]),
                    "BACKBEAT_GATEWAY_AUTH_URL": url["auth"],
                    "BACKBEAT_GATEWAY_TOKENS_URL": url["tokens"],
                    "BACKBEAT_GATEWAY_PLAYBACK_URL": url["playback"],
                },
            )
        )
        yield FullStack(fake=fake, gateway=gateway, processes=processes)
    finally:
        for process in reversed(processes):
            process.stop()


async def until(check, what: str, within_s: float) -> float:  # type: ignore[no-untyped-def]
    """Seconds until ``check()`` is true; fails naming ``what`` after ``within_s``."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within_s:
            raise AssertionError(f"{what} not seen within {within_s} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def live_events(http: httpx.AsyncClient, account: Account) -> AsyncIterator[dict]:
    async with http.stream("GET", "/api/playback/stream", headers=account.headers) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        async for line in stream.aiter_lines():
            if line.startswith("data:"):
                yield json.loads(line[5:])


async def test_a_listener_sees_what_they_play_live_pauses_it_and_finds_it_in_history(
    full_stack: FullStack,
) -> None:
    gateway, fake = full_stack.gateway.url, full_stack.fake.url
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

        async def follow() -> None:
            async for event in live_events(http, account):
                seen_live.append(event)

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0.5)  # the stream is open before the music starts
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
