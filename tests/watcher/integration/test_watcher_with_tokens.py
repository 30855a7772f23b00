"""The watcher with the real tokens service: a user who connects Spotify through tokens'
OAuth flow is picked up from spotify.connections, polled with the access token tokens hands
out to the watcher's service JWT, and their playback shows up as events."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from backbeat.authn.testing import TokenForge
from backbeat.events.playback import PlaybackEventKind
from backbeat.runtime.testing import ServiceProcess, StaticJson, service_process, spotify_fake
from backbeat.tokens.store.migrate import upgrade
from backbeat.tokens.testing import connect_in_a_browser, tokens_process
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
        connections_topic = f"test.spotify.connections.{unique}"
        tokens = tokens_process(
            database_url=tokens_url,
            kafka_bootstrap=kafka_bootstrap,
            auth_issuer=ISSUER,
            jwks_url=jwks.url,
            spotify_url=fake.url,
            spotify_app=app,
            redirect_uri=REDIRECT,
            connections_topic=connections_topic,
            name="tokens-for-watcher",
        ).start()
        processes.append(tokens)
        events_topic = f"test.watcher.events.{unique}"
        watcher = service_process(
            "watcher",
            {
                "AUTH_TOKEN_URL": f"{auth.url}/oauth/token",
                "TOKENS_URL": tokens.url,
                "SPOTIFY_API_URL": fake.url,
                "SPOTIFY_ACCOUNTS_URL": fake.url,
                "EVENTS_TOPIC": events_topic,
                "CONNECTIONS_TOPIC": connections_topic,
                "EVENTS_PARTITIONS": "3",
                "STATE_TOPIC": f"test.watcher.state.{unique}",
                "RATE_PAUSE_TOPIC": f"test.watcher.rate-pauses.{unique}",
                "CONSUMER_GROUP": f"test-watcher-{unique}",
                "TRANSACTIONAL_ID_PREFIX": f"test-watcher-{unique}",
                "ACTIVE_INTERVAL_S": "1",
                "IDLE_INTERVAL_S": "1",
                "COMMIT_INTERVAL_MS": "50",
            },
            env={"BACKBEAT_KAFKA_BOOTSTRAP": kafka_bootstrap},
            name="watcher-with-tokens",
        ).start(timeout_s=60)
        processes.append(watcher)

        user_id = str(uuid.uuid4())
        spotify_user = httpx.post(f"{fake.url}/_control/users", json={}).json()["id"]
        bearer = {"Authorization": f"Bearer {FORGE.user_token(sub=user_id)}"}
        callback = connect_in_a_browser(tokens.url, fake.url, bearer, spotify_user)
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
