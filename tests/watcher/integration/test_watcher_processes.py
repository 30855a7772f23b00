"""Watcher processes against the Spotify fake process on a real clock: takeover when an
instance dies, and a 429 storm."""

from __future__ import annotations

import asyncio
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from backbeat.events.playback import PlaybackEvent
from backbeat.runtime.testing import ServiceProcess, free_port, spotify_fake
from backbeat.watcher.testing import (
    StandInAuthAndTokens,
    at_ms,
    connect_spotify_users,
    connected,
    publish_connections,
    read_playback_events,
    register_spotify_app,
)

pytestmark = pytest.mark.integration

SESSION_TIMEOUT_S = 6


@dataclass
class Stack:
    fake: ServiceProcess
    kafka_bootstrap: str
    unique: str
    users: list[str] = field(default_factory=list)
    tokens: StandInAuthAndTokens | None = None
    watchers: list[ServiceProcess] = field(default_factory=list)
    spotify_app: str = ""

    @property
    def events_topic(self) -> str:
        return f"test.watcher.events.{self.unique}"

    @property
    def connections_topic(self) -> str:
        return f"test.watcher.connections.{self.unique}"

    def env(self) -> dict[str, str]:
        assert self.tokens is not None
        u = self.unique
        return {
            "BACKBEAT_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "BACKBEAT_WATCHER_SPOTIFY_API_URL": self.fake.url,
            "BACKBEAT_WATCHER_SPOTIFY_ACCOUNTS_URL": self.fake.url,
            "BACKBEAT_WATCHER_TOKENS_URL": self.tokens.url,
            "BACKBEAT_WATCHER_AUTH_TOKEN_URL": f"{self.tokens.url}/oauth/token",
            "BACKBEAT_WATCHER_CONNECTIONS_TOPIC": self.connections_topic,
            "BACKBEAT_WATCHER_EVENTS_TOPIC": self.events_topic,
            "BACKBEAT_WATCHER_EVENTS_PARTITIONS": "3",
            "BACKBEAT_WATCHER_STATE_TOPIC": f"test.watcher.state.{u}",
            "BACKBEAT_WATCHER_CONSUMER_GROUP": f"test-watcher-{u}",
            "BACKBEAT_WATCHER_TRANSACTIONAL_ID_PREFIX": f"test-watcher-{u}",
            "BACKBEAT_WATCHER_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_S * 1000),
            "BACKBEAT_WATCHER_HEARTBEAT_INTERVAL_MS": "1000",
            "BACKBEAT_WATCHER_COMMIT_INTERVAL_MS": "50",
            "BACKBEAT_WATCHER_ACTIVE_INTERVAL_S": "1",
            "BACKBEAT_WATCHER_PAUSED_INTERVAL_S": "2",
            "BACKBEAT_WATCHER_IDLE_INTERVAL_S": "2",
            "BACKBEAT_WATCHER_LONG_IDLE_INTERVAL_S": "3",
            "BACKBEAT_WATCHER_RATE_BUDGET_PER_S": "1000",
            "BACKBEAT_WATCHER_RATE_BUDGET_BURST": "100",
        }

    def start_watcher(self) -> ServiceProcess:
        port = free_port()
        watcher = ServiceProcess(
            f"watcher-{len(self.watchers)}",
            "backbeat.watcher",
            port,
            env={**self.env(), "BACKBEAT_WATCHER_PORT": str(port)},
        )
        self.watchers.append(watcher)
        return watcher.start(timeout_s=60)

    async def play(self, http: httpx.AsyncClient, user: str, track_id: str) -> None:
        response = await http.put(
            f"/_control/users/{user}/playback", json={"track_id": track_id, "progress_ms": 0}
        )
        response.raise_for_status()

    async def events(self) -> list[PlaybackEvent]:
        return await read_playback_events(self.kafka_bootstrap, self.events_topic)


def metric(watcher: ServiceProcess, name: str) -> float:
    text = httpx.get(f"{watcher.url}/metrics", timeout=5).text
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def by_user(events: list[PlaybackEvent]) -> dict[str, list[tuple[int, str, str]]]:
    timelines: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for e in sorted(events, key=lambda e: (e.subject, e.data.sequence)):
        track = e.data.track.id if e.data.track else ""
        timelines[e.subject].append((e.data.sequence, e.data.kind.value, track))
    return timelines


async def wait_until(condition: object, timeout_s: float, step_s: float = 0.5) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(step_s)


@pytest.fixture
def stack(kafka_bootstrap: str, unique: str) -> Iterator[Stack]:
    fake = spotify_fake("--rate-limit", "0").start()
    stack = Stack(fake=fake, kafka_bootstrap=kafka_bootstrap, unique=unique)
    try:
        yield stack
    finally:
        for watcher in stack.watchers:
            watcher.kill()
        fake.stop()
        if stack.tokens is not None:
            stack.tokens.__exit__()


async def setup_users(stack: Stack, http: httpx.AsyncClient, count: int) -> list[str]:
    client_id, secret = await register_spotify_app(http)
    users = []
    for n in range(count):
        created = await http.post("/_control/users", json={"id": f"u{n:02d}-{stack.unique}"})
        users.append(created.json()["id"])
    tokens = await connect_spotify_users(http, client_id, secret, users)
    stack.tokens = StandInAuthAndTokens(tokens).__enter__()
    stack.users, stack.spotify_app = users, client_id
    now = int(time.time() * 1000)
    await publish_connections(
        stack.kafka_bootstrap,
        stack.connections_topic,
        [connected(u, at_ms(now), client_id) for u in users],
    )
    return users


async def long_tracks(http: httpx.AsyncClient, count: int) -> list[str]:
    catalog = (await http.get("/_control/catalog", params={"limit": 500})).json()["items"]
    return [t["id"] for t in catalog if t["duration_ms"] > 200_000][:count]


async def test_killing_an_instance_moves_its_users_to_the_other_with_no_false_or_repeated_event(
    stack: Stack,
) -> None:
    async with httpx.AsyncClient(base_url=stack.fake.url, timeout=10) as http:
        users = await setup_users(stack, http, 12)
        first, second = await long_tracks(http, 2)
        for user in users:
            await stack.play(http, user, first)
        doomed = stack.start_watcher()

        async def all_started(count: int) -> bool:
            timelines = by_user(await stack.events())
            return all(len(timelines.get(u, [])) >= count for u in users)

        await wait_until(lambda: all_started(1), 60)
        survivor = stack.start_watcher()
        await wait_until(
            lambda: 0 < metric(survivor, "watcher_users_owned") < len(users), 60
        )  # the group split the users between the two
        doomed.kill()
        killed_at = time.monotonic()
        await wait_until(lambda: metric(survivor, "watcher_users_owned") == len(users), 60)
        handover_s = time.monotonic() - killed_at
        for user in users:
            await stack.play(http, user, second)
        await wait_until(lambda: all_started(3), 60)
        await asyncio.sleep(3)  # any stray event would show up by now

    timelines = by_user(await stack.events())
    for user in users:
        assert timelines[user] == [
            (1, "track_started", first),
            (2, "track_ended", first),
            (3, "track_started", second),
        ], user
    # Kafka noticed the death after the session timeout; the takeover itself is quick.
    assert handover_s < SESSION_TIMEOUT_S + 20


async def test_a_429_storm_pauses_polling_for_retry_after_and_polling_resumes_after(
    stack: Stack,
) -> None:
    async with httpx.AsyncClient(base_url=stack.fake.url, timeout=10) as http:
        users = await setup_users(stack, http, 10)
        first, second = await long_tracks(http, 2)
        for user in users:
            await stack.play(http, user, first)
        watcher = stack.start_watcher()

        async def player_calls() -> int:
            stats = (await http.get("/_control/stats")).json()
            return int(stats["web_api_calls"]["by_endpoint"].get("player", 0))

        async def all_started(count: int) -> bool:
            timelines = by_user(await stack.events())
            return all(len(timelines.get(u, [])) >= count for u in users)

        await wait_until(lambda: all_started(1), 60)
        # Every player read answers 429 "Retry-After: 6" for the next 2 s.
        storm = await http.post(
            "/_control/faults",
            json={
                "endpoint": "player",
                "kind": "rate_limit",
                "retry_after_s": 6,
                "duration_ms": 2_000,
            },
        )
        storm.raise_for_status()
        injected = time.monotonic()
        await asyncio.sleep(3 - (time.monotonic() - injected))
        during_pause = await player_calls()
        await asyncio.sleep(5 - (time.monotonic() - injected))
        still_paused = await player_calls()
        await asyncio.sleep(12 - (time.monotonic() - injected))
        resumed = await player_calls()
        for user in users:
            await stack.play(http, user, second)
        await wait_until(lambda: all_started(3), 30)
        rate_limited = metric(watcher, "watcher_rate_limited_total")

    # 10 users polled every second would have met the storm ~20 times; the first 429
    # paused the whole budget, so only the polls already in flight met it.
    assert 1 <= rate_limited <= 5
    assert still_paused == during_pause  # nothing reached Spotify during Retry-After
    assert resumed > still_paused + 10  # and polling came back after it
