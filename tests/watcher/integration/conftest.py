"""Watcher integration fixtures: an in-process Spotify fake with simulated listeners on a
manual clock, users connected through its OAuth flow, and watcher settings on topics and a
consumer group of the test's own."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest

from backbeat.spotify import SpotifyClient, WebApiSettings
from backbeat.spotify_fake.app import create_app
from backbeat.spotify_fake.config import FakeConfig
from backbeat.spotify_fake.fake import FakeSpotify
from backbeat.watcher.adapters.spotify_reader import PlaybackReader, SpotifyPlaybackReader
from backbeat.watcher.service.access_tokens import AccessTokenSource
from backbeat.watcher.settings import WatcherSettings
from backbeat.watcher.testing import (
    SimulatedClock,
    StaticAccessTokens,
    connect_spotify_users,
    register_spotify_app,
)
from backbeat.watcher.workers.metrics import WatcherMetrics
from backbeat.watcher.workers.watcher import Watcher


def watcher_settings(kafka_bootstrap: str, unique: str, **overrides: object) -> WatcherSettings:
    values: dict[str, object] = {
        "kafka_bootstrap": kafka_bootstrap,
        "connections_topic": f"test.watcher.connections.{unique}",
        "events_topic": f"test.watcher.events.{unique}",
        "state_topic": f"test.watcher.state.{unique}",
        "presence_topic": f"test.watcher.presence.{unique}",
        "rate_pause_topic": f"test.watcher.rate-pauses.{unique}",
        "consumer_group": f"test-watcher-{unique}",
        "transactional_id_prefix": f"test-watcher-{unique}",
        "events_partitions": 3,
        "commit_interval_ms": 50,
        "rate_budget_per_s": 10_000,
        "rate_budget_burst": 10_000,
        "session_timeout_ms": 6_000,
        "heartbeat_interval_ms": 1_000,
    }
    values.update(overrides)
    return WatcherSettings.model_validate(values)


@dataclass
class SimulatedSpotify:
    """The fake in this process, its users' tokens, and watchers on its manual clock."""

    fake: FakeSpotify
    http: httpx.AsyncClient
    tokens: dict[str, str]
    spotify_app: str

    def watcher(
        self,
        settings: WatcherSettings,
        seed: int = 1,
        wrap_reader: Callable[[PlaybackReader], PlaybackReader] | None = None,
        tokens: AccessTokenSource | None = None,
    ) -> tuple[Watcher, SimulatedClock]:
        clock = SimulatedClock(self.fake.clock)
        client = SpotifyClient(WebApiSettings(api_base_url="http://fake"), http=self.http)
        watcher = Watcher(
            settings,
            clock=clock,
            reader=(wrap_reader or (lambda reader: reader))(
                SpotifyPlaybackReader(client, clock.wall_ms)
            ),
            tokens=tokens or StaticAccessTokens(self.tokens),
            metrics=WatcherMetrics(),
            rng=random.Random(seed),
        )
        return watcher, clock

    def ground_truth(self) -> dict[str, list[dict[str, object]]]:
        return {
            user_id: [
                {
                    "item_id": p.item_id,
                    "started_at_ms": p.started_at_ms,
                    "ended_at_ms": p.ended_at_ms,
                    "listened_ms": p.listened_ms,
                    "duration_ms": p.duration_ms,
                    "end_reason": p.end_reason,
                }
                for p in self.fake.ground_truth(user_id)
            ]
            for user_id in self.tokens
        }


async def simulated_spotify(listeners: int, seed: int) -> SimulatedSpotify:
    app = create_app(
        FakeConfig(
            seed=seed,
            listeners=listeners,
            clock="manual",
            rate_limit=None,
            access_token_ttl_s=30 * 24 * 3600,
        )
    )
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fake")
    client_id, secret = await register_spotify_app(http)
    tokens = await connect_spotify_users(http, client_id, secret, app.fake.simulated_user_ids())
    return SimulatedSpotify(app.fake, http, tokens, client_id)


@pytest.fixture
async def spotify50() -> AsyncIterator[SimulatedSpotify]:
    spotify = await simulated_spotify(listeners=50, seed=11)
    yield spotify
    await spotify.http.aclose()


@pytest.fixture
async def spotify20() -> AsyncIterator[SimulatedSpotify]:
    spotify = await simulated_spotify(listeners=20, seed=23)
    yield spotify
    await spotify.http.aclose()
