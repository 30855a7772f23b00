"""Taking partitions over, with a real broker: the group's assignment returns at once and
each partition's state is restored in the background, so a slow restore never drops a member
from the group; a partition's users are polled only once its state is back; a revocation in
the middle of a restore cancels it and leaves nothing of the partition polled."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from backbeat.events.cloudevents import to_kafka
from backbeat.events.connections import connection_event
from backbeat.runtime.kafka import KAFKA_CLIENT_OPTIONS, TopicSpec, create_producer, ensure_topics
from backbeat.watcher.domain.snapshot import PlaybackSnapshot, RecentPlay
from backbeat.watcher.domain.timeline import WatchState
from backbeat.watcher.settings import WatcherSettings
from backbeat.watcher.store import state_store
from backbeat.watcher.store.state_store import (
    RetainedStates,
    changelog_ends,
    encode_state,
    restore_partition,
)
from backbeat.watcher.testing import StaticAccessTokens, connected
from backbeat.watcher.workers import watcher as watcher_module
from backbeat.watcher.workers.metrics import WatcherMetrics
from backbeat.watcher.workers.watcher import CONNECTIONS_PARTITIONS, Watcher
from tests.watcher.integration.conftest import watcher_settings

pytestmark = pytest.mark.integration

Restore = Callable[..., Awaitable[dict[str, WatchState]]]


class IdlePlayers:
    """Spotify with nobody playing; records who was polled, and when (monotonic)."""

    def __init__(self) -> None:
        self.polls: list[tuple[str, float]] = []

    async def playback(self, access_token: str) -> PlaybackSnapshot:
        self.polls.append((access_token, time.monotonic()))
        return PlaybackSnapshot.nothing_playing(time.time_ns() // 1_000_000)

    async def plays_after(self, access_token: str, after_ms: int) -> list[RecentPlay]:
        return []

    def polled(self) -> set[str]:
        return {user for user, _ in self.polls}

    def first_polls(self) -> dict[str, float]:
        first: dict[str, float] = {}
        for user, at in self.polls:
            first.setdefault(user, at)
        return first


async def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def publish_users(settings: WatcherSettings, users: list[str]) -> None:
    topic = settings.connections_topic
    await ensure_topics(
        settings.kafka_bootstrap,
        [TopicSpec(topic, partitions=CONNECTIONS_PARTITIONS, compacted=True)],
    )
    producer = create_producer(settings.kafka_bootstrap, client_id="test-takeover", linger_ms=20)
    await producer.start()
    since = datetime.now(UTC)
    try:
        sent = []
        for user in users:
            key, value, headers = to_kafka(connection_event(connected(user, since)))
            sent.append(await producer.send(topic, value, key=key, headers=headers))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


class Watchers:
    """Watcher instances of one group in this process, each with its own stand-in Spotify."""

    def __init__(self, settings: WatcherSettings, users: list[str]) -> None:
        self.settings = settings
        self.users = users
        self.running: list[tuple[Watcher, IdlePlayers]] = []

    async def start(self) -> tuple[Watcher, IdlePlayers]:
        players = IdlePlayers()
        watcher = Watcher(
            self.settings,
            reader=players,
            tokens=StaticAccessTokens({u: u for u in self.users}),
            metrics=WatcherMetrics(),
            rng=random.Random(len(self.running)),
        )
        await watcher.start()
        self.running.append((watcher, players))
        return watcher, players

    async def stop(self, watcher: Watcher) -> None:
        self.running = [(w, p) for w, p in self.running if w is not watcher]
        await watcher.stop()

    def watched(self) -> dict[str, int]:
        """How many instances watch each user."""
        counts = dict.fromkeys(self.users, 0)
        for watcher, _ in self.running:
            for user in watcher.scheduler.users:
                counts[user] += 1
        return counts

    def everyone_watched_once(self) -> bool:
        return all(count == 1 for count in self.watched().values())


@pytest.fixture
async def watchers(kafka_bootstrap: str, unique: str) -> AsyncIterator[Watchers]:
    settings = watcher_settings(kafka_bootstrap, unique)
    group = Watchers(settings, [])
    yield group
    for watcher, _ in list(group.running):
        await group.stop(watcher)


async def with_users(group: Watchers, count: int) -> list[str]:
    group.users = [f"user-{n}" for n in range(count)]
    await publish_users(group.settings, group.users)
    return group.users


async def states_committed(group: Watchers, watcher: Watcher, players: IdlePlayers) -> None:
    """Until ``watcher`` has polled every user once and committed their states."""
    await wait_for(
        lambda: (
            all(u.state.snapshot is not None for u in watcher.scheduler.users.values())
            and len(watcher.scheduler.users) == len(group.users)
        ),
        60,
        "every user observed",
    )
    await watcher.publisher.flush()


def restore_gated(
    monkeypatch: pytest.MonkeyPatch,
    before: Callable[[int], Awaitable[None]],
    cancelled: list[int] | None = None,
) -> None:
    """Every restore of a partition first awaits ``before(partition)``; a restore cancelled
    there or later is noted in ``cancelled``."""
    real: Restore = state_store.restore_partition

    async def gated(
        bootstrap: str, topic: str, partition: int, **options: object
    ) -> dict[str, WatchState]:
        try:
            await before(partition)
            return await real(bootstrap, topic, partition, **options)
        except asyncio.CancelledError:
            if cancelled is not None:
                cancelled.append(partition)
            raise

    monkeypatch.setattr(watcher_module, "restore_partition", gated)


async def group_members(settings: WatcherSettings) -> tuple[str, set[str]]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="test-takeover-admin",
        **KAFKA_CLIENT_OPTIONS,
    )
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([settings.consumer_group])
        _, _, state, _, _, members, *_ = response.groups[0]
        return str(state), {str(member[0]) for member in members}
    finally:
        await admin.close()


async def test_a_takeover_slower_than_the_session_timeout_keeps_every_member_in_the_group(
    watchers: Watchers, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = await with_users(watchers, 3_000)
    first, first_players = await watchers.start()
    await states_committed(watchers, first, first_players)
    # Each restore takes half as long again as the session: a loaded host restoring tens of
    # thousands of users. Before, the assignment callback waited for it, sent no heartbeat,
    # and the group dropped the member ("member_id not recognized").
    slow_s = watchers.settings.session_timeout_ms / 1000 * 1.5
    restore_gated(monkeypatch, lambda _: asyncio.sleep(slow_s))

    taken_over_at = time.monotonic()
    await asyncio.gather(watchers.start(), watchers.start())
    await wait_for(
        lambda: all(len(w.ownership.owned) == 4 for w, _ in watchers.running),
        60,
        "each of the three to be assigned 4 partitions",
    )
    state, members = await group_members(watchers.settings)
    assert (state, len(members)) == ("Stable", 3)

    # Sampled through the whole restore and a while after: the same three members, stable.
    seen: list[tuple[str, set[str]]] = []
    deadline = time.monotonic() + slow_s + 10
    while not watchers.everyone_watched_once() or time.monotonic() < taken_over_at + slow_s + 3:
        assert time.monotonic() < deadline, f"not taken over; watched: {watchers.watched()}"
        seen.append(await group_members(watchers.settings))
        await asyncio.sleep(0.25)
    assert all(sample == ("Stable", members) for sample in seen), seen
    assert all(len(w.ownership.owned) == 4 for w, _ in watchers.running)
    # Every user watched by exactly one instance, from the state the first one left.
    assert watchers.everyone_watched_once()
    for watcher, _ in watchers.running:
        for user in watcher.scheduler.users.values():
            assert user.state.snapshot is not None, user.user_id
    assert sum(len(w.scheduler.users) for w, _ in watchers.running) == len(users)


async def test_users_of_a_partition_are_not_polled_before_its_restore_has_finished(
    kafka_bootstrap: str, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Short intervals so that every restored user is polled again within seconds.
    settings = watcher_settings(
        kafka_bootstrap,
        unique,
        active_interval_s=1.0,
        paused_interval_s=1.0,
        idle_interval_s=1.0,
        long_idle_interval_s=1.0,
        viewed_active_interval_s=0.5,
        viewed_paused_interval_s=0.5,
        viewed_idle_interval_s=0.5,
    )
    group = Watchers(settings, [])
    try:
        await with_users(group, 300)
        first, first_players = await group.start()
        await states_committed(group, first, first_players)
        partition_of = {u.user_id: u.partition for u in first.scheduler.users.values()}
        await group.stop(first)

        gate = asyncio.Event()
        held = 0

        async def hold_partition_0(partition: int) -> None:
            if partition == held:
                await gate.wait()

        restore_gated(monkeypatch, hold_partition_0)
        second, players = await group.start()
        held_users = {u for u, p in partition_of.items() if p == held}
        others = set(partition_of) - held_users
        assert held_users and others
        # The other partitions' users are polled, some twice; none of the held partition.
        await wait_for(lambda: others <= players.polled(), 30, "the other users polled")
        await wait_for(lambda: len(players.polls) >= 2 * len(others), 30, "the others polled again")
        assert not held_users & players.polled()
        assert not held_users & set(second.scheduler.users)
        assert held in second.ownership.owned

        released_at = time.monotonic()
        gate.set()
        await wait_for(lambda: held_users <= players.polled(), 30, "the held users polled")
        first_polls = players.first_polls()
        assert all(first_polls[u] >= released_at for u in held_users)
        # Each polled from the state the first instance left, never from scratch.
        for user_id in held_users:
            state = second.scheduler.users[user_id].state
            assert state.snapshot is not None
    finally:
        for watcher, _ in list(group.running):
            await group.stop(watcher)


async def test_a_revocation_during_a_restore_cancels_it_and_leaves_no_poll_of_its_users(
    watchers: Watchers, monkeypatch: pytest.MonkeyPatch
) -> None:
    await with_users(watchers, 600)
    gate = asyncio.Event()
    cancelled: list[int] = []

    async def until_released(_: int) -> None:
        await gate.wait()

    restore_gated(monkeypatch, until_released, cancelled)
    first, first_players = await watchers.start()
    await wait_for(lambda: len(first.ownership.owned) == 12, 30, "all partitions assigned")
    assert first_players.polls == [] and not first.scheduler.users

    # A second instance joins while the first is still restoring: the group revokes all 12
    # from the first (cancelling its restores) and deals them out again.
    second, second_players = await watchers.start()
    await wait_for(
        lambda: len(first.ownership.owned) == 6 and len(second.ownership.owned) == 6,
        60,
        "the partitions split between the two",
    )
    assert sorted(cancelled) == list(range(12))
    revoked = set(range(12)) - first.ownership.owned
    assert not any(first.publisher.owns(p) for p in revoked)

    gate.set()
    await wait_for(watchers.everyone_watched_once, 30, "every user watched by one instance")
    await wait_for(
        lambda: len(first_players.polled()) + len(second_players.polled()) == 600,
        30,
        "every user polled",
    )
    # Nobody was polled by both, and the first polled only users of partitions it kept.
    assert not first_players.polled() & second_players.polled()
    kept = {u.user_id for u in first.scheduler.users.values()}
    assert first_players.polled() == kept
    assert {u.partition for u in first.scheduler.users.values()} <= first.ownership.owned
    assert {u.partition for u in second.scheduler.users.values()} <= second.ownership.owned


async def test_a_partition_assigned_back_reads_only_what_was_written_after_it_was_let_go(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"test.watcher.state.{unique}"
    await ensure_topics(kafka_bootstrap, [TopicSpec(topic, partitions=2, compacted=True)])
    producer = create_producer(kafka_bootstrap, client_id="test-takeover")
    await producer.start()

    async def write(user_id: str, state: WatchState | None) -> None:
        value = None if state is None else encode_state(state)
        await producer.send_and_wait(topic, value, key=user_id.encode(), partition=1)

    try:
        for n in range(20):
            await write(f"u{n}", WatchState(f"u{n}", sequence=1))
        (end,) = (await changelog_ends(kafka_bootstrap, topic, [1])).values()
        left = await restore_partition(kafka_bootstrap, topic, 1)
        # Another owner's writes meanwhile: a newer state, a new user, a deletion.
        await write("u3", WatchState("u3", sequence=7))
        await write("u99", WatchState("u99", sequence=1))
        await write("u5", None)
    finally:
        await producer.stop()

    # The retained copy says u0 is at 42: read back from the retained offset only, the copy
    # is what the other owner's writes apply to (a read from the beginning would say 1).
    kept = {**left, "u0": WatchState("u0", sequence=42)}
    back = await restore_partition(kafka_bootstrap, topic, 1, retained=RetainedStates(end, kept))
    whole = await restore_partition(kafka_bootstrap, topic, 1)
    assert back["u0"].sequence == 42 and whole["u0"].sequence == 1
    assert back["u3"].sequence == whole["u3"].sequence == 7
    assert "u99" in back and "u5" not in back
    assert {u: s for u, s in back.items() if u != "u0"} == {
        u: s for u, s in whole.items() if u != "u0"
    }
