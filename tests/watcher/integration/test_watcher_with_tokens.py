"""The watcher with the real tokens service: a user who connects Spotify through tokens'
OAuth flow is picked up from spotify.connections, polled with the access token tokens hands
out to the watcher's service JWT, and their playback shows up as events."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from backbeat.authn.testing import TokenForge
from backbeat.events.playback import PlaybackEventKind
from backbeat.runtime.testing import ServiceProcess, StaticJson, free_port, spotify_fake
from backbeat.tokens.store.migrate import upgrade
from backbeat.watcher.testing import StandInAuthAndTokens, read_playback_events

pytestmark = pytest.mark.integration

ISSUER = "http://auth.test"
FORGE = TokenForge(issuer=ISSUER, user_audience="backbeat", service_audience="tokens")
REDIRECT = "http://127.0.0.1:8000/api/spotify/callback"


@pytest.fixture(scope="module")
def tokens_url(database_urls: dict[str, str]) -> str:
    url = database_urls["tokens"]
    upgrade(url)
    return url


@pytest.fixture
def processes() -> Iterator[list[ServiceProcess]]:
    started: list[ServiceProcess] = []
    yield started
    for process in reversed(started):
        process.stop()


def test_a_user_connected_through_tokens_is_watched_and_their_plays_published(
    processes: list[ServiceProcess], tokens_url: str, kafka_bootstrap: str, unique: str
) -> None:
    fake = spotify_fake("--rate-limit", "0").start()
    processes.append(fake)
    app = httpx.post(f"{fake.url}/_control/clients", json={"redirect_uris": [REDIRECT]}).json()
    with (
        StaticJson(FORGE.jwks()) as jwks,
        StandInAuthAndTokens(
            {}, service_token=FORGE.service_token("watcher", "tokens:read")
        ) as auth,
    ):
        tokens_port = free_port()
        connections_topic = f"test.spotify.connections.{unique}"
        tokens = ServiceProcess(
            "tokens-for-watcher",
            "backbeat.tokens",
            tokens_port,
            env={
                "BACKBEAT_TOKENS_PORT": str(tokens_port),
                "BACKBEAT_TOKENS_DATABASE_URL": tokens_url,
                "BACKBEAT_KAFKA_BOOTSTRAP": kafka_bootstrap,
                "BACKBEAT_TOKENS_AUTH_ISSUER": ISSUER,
                "BACKBEAT_TOKENS_AUTH_JWKS_URL": jwks.url,
                "BACKBEAT_TOKENS_SPOTIFY_CLIENT_ID": app["client_id"],
                "BACKBEAT_TOKENS_SPOTIFY_CLIENT_SECRET": app["client_secret"],
                "BACKBEAT_TOKENS_SPOTIFY_ACCOUNTS_URL": fake.url,
                "BACKBEAT_TOKENS_SPOTIFY_API_URL": fake.url,
                "BACKBEAT_TOKENS_SPOTIFY_REDIRECT_URI": REDIRECT,
                "BACKBEAT_TOKENS_CONNECTIONS_TOPIC": connections_topic,
            },
        ).start()
        processes.append(tokens)
        watcher_port = free_port()
        events_topic = f"test.watcher.events.{unique}"
        watcher = ServiceProcess(
            "watcher-with-tokens",
            "backbeat.watcher",
            watcher_port,
            env={
                "BACKBEAT_KAFKA_BOOTSTRAP": kafka_bootstrap,
                "BACKBEAT_WATCHER_PORT": str(watcher_port),
                "BACKBEAT_WATCHER_AUTH_TOKEN_URL": f"{auth.url}/oauth/token",
                "BACKBEAT_WATCHER_TOKENS_URL": tokens.url,
                "BACKBEAT_WATCHER_SPOTIFY_API_URL": fake.url,
                "BACKBEAT_WATCHER_SPOTIFY_ACCOUNTS_URL": fake.url,
                "BACKBEAT_WATCHER_EVENTS_TOPIC": events_topic,
                "BACKBEAT_WATCHER_CONNECTIONS_TOPIC": connections_topic,
                "BACKBEAT_WATCHER_EVENTS_PARTITIONS": "3",
                "BACKBEAT_WATCHER_STATE_TOPIC": f"test.watcher.state.{unique}",
                "BACKBEAT_WATCHER_CONSUMER_GROUP": f"test-watcher-{unique}",
                "BACKBEAT_WATCHER_TRANSACTIONAL_ID_PREFIX": f"test-watcher-{unique}",
                "BACKBEAT_WATCHER_ACTIVE_INTERVAL_S": "1",
                "BACKBEAT_WATCHER_IDLE_INTERVAL_S": "1",
                "BACKBEAT_WATCHER_COMMIT_INTERVAL_MS": "50",
            },
        ).start(timeout_s=60)
        processes.append(watcher)

        user_id = str(uuid.uuid4())
        spotify_user = httpx.post(f"{fake.url}/_control/users", json={}).json()["id"]
        bearer = {"Authorization": f"Bearer {FORGE.user_token(sub=user_id)}"}
        connect = httpx.post(f"{tokens.url}/api/spotify/connect", headers=bearer).json()
        authorize = urlsplit(connect["authorize_url"])
        consent = httpx.get(f"{fake.url}/authorize?{authorize.query}&fake_user={spotify_user}")
        callback = httpx.get(
            f"{tokens.url}/api/spotify/callback?{urlsplit(consent.headers['location']).query}"
        )
        assert callback.headers["location"].endswith("?spotify=connected")

        track = httpx.get(f"{fake.url}/_control/catalog", params={"limit": 1}).json()["items"][0]
        httpx.put(
            f"{fake.url}/_control/users/{spotify_user}/playback",
            json={"track_id": track["id"], "progress_ms": 1_000},
        ).raise_for_status()

        deadline = time.monotonic() + 60
        mine: list[tuple[int, str, str | None]] = []
        while time.monotonic() < deadline and not mine:
            events = asyncio.run(read_playback_events(kafka_bootstrap, events_topic))
            mine = [
                (e.data.sequence, e.data.kind.value, e.data.track.id if e.data.track else None)
                for e in events
                if e.subject == user_id
            ]
            time.sleep(0.5)
        assert mine == [(1, PlaybackEventKind.TRACK_STARTED.value, track["id"])]
