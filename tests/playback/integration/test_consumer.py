"""The playback consumer on the real Kafka and PostgreSQL: exactly once, dead letters, erasure."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import pytest
from sqlalchemy import func, select

from backbeat.events.cloudevents import to_kafka
from backbeat.events.playback import playback_event
from backbeat.events.users import UserDeleted, user_deleted_event
from backbeat.playback.domain.play_rule import PlayRule
from backbeat.playback.domain.projection import IncomingEvent
from backbeat.playback.settings import PlaybackSettings
from backbeat.playback.store.projection import BatchOutcome, PlaybackProjection
from backbeat.playback.store.queries import history
from backbeat.playback.store.tables import processed_events
from backbeat.runtime.database import Database
from backbeat.runtime.kafka import create_producer
from tests.playback.integration.harness import (
    all_committed,
    eventually,
    publish,
    publish_raw,
    read_topic,
    running_consumers,
)
from tests.playback.scenarios import T0, Listener, track

pytestmark = pytest.mark.integration


def three_listeners(unique: str) -> list[Listener]:
    """Three users, two plays each (one of them a repeat), and a skip that is no play."""
    listeners = []
    for n in range(3):
        listener = Listener(f"user-{n}-{unique}")
        listener.listen_through(track(n)).start(track(99)).wait(5)
        listener.listen_through(track(n)).stop()
        listeners.append(listener)
    return listeners


def expected(listeners: Sequence[Listener]) -> dict[str, list[str]]:
    return {listener.user_id: [f"track-{i}"] * 2 for i, listener in enumerate(listeners)}


async def plays_per_user(database: Database, listeners: Sequence[Listener]) -> dict[str, list[str]]:
    async with database.session() as session:
        return {
            listener.user_id: [p.track.id for p in (await history(session, listener.user_id)).items]
            for listener in listeners
        }


async def applied_count(database: Database) -> int:
    async with database.session() as session:
        count = await session.execute(select(func.count()).select_from(processed_events))
        return int(count.scalar_one())


async def test_the_same_events_delivered_twice_leave_one_play_each(
    database: Database, settings: PlaybackSettings, unique: str
) -> None:
    listeners = three_listeners(unique)
    events = [e for listener in listeners for e in listener.events]
    await publish(settings.kafka_bootstrap, settings.events_topic, events)
    await publish(settings.kafka_bootstrap, settings.events_topic, events)  # the whole lot again

    async with running_consumers(settings, database):
        await eventually(lambda: all_committed(settings, 2 * len(events)))

    assert await plays_per_user(database, listeners) == expected(listeners)
    assert await applied_count(database) == len(events)


async def test_a_batch_with_duplicates_leaves_one_play_each(
    database: Database, settings: PlaybackSettings, unique: str
) -> None:
    listeners = three_listeners(unique)
    # Every event twice in a row: the copies land in the same batch.
    doubled = [e for listener in listeners for event in listener.events for e in (event, event)]
    await publish(settings.kafka_bootstrap, settings.events_topic, doubled)

    async with running_consumers(settings, database):
        await eventually(lambda: all_committed(settings, len(doubled)))

    assert await plays_per_user(database, listeners) == expected(listeners)


class ProcessCrash(BaseException):
    """The process dying: nothing after it runs, not even the offset commit."""


class CrashAfterCommit(PlaybackProjection):
    """Commits the batch to the database, then dies before the offsets can be committed."""

    committed_batches = 0

    async def apply(self, events: Sequence[IncomingEvent]) -> BatchOutcome:
        await super().apply(events)
        self.committed_batches += 1
        raise ProcessCrash


async def test_a_crash_between_database_commit_and_offset_commit_leaves_one_play_each(
    database: Database, settings: PlaybackSettings, unique: str
) -> None:
    listeners = three_listeners(unique)
    events = [e for listener in listeners for e in listener.events]
    await publish(settings.kafka_bootstrap, settings.events_topic, events)

    crashing = CrashAfterCommit(database, PlayRule())

    async def crashed() -> bool:
        return crashing.committed_batches >= 1

    async with running_consumers(settings, database, projection=crashing):
        await eventually(crashed)
    assert await applied_count(database) > 0  # the database has the first batch
    assert not await all_committed(settings, 1)  # but Kafka was never told of any record

    # The restarted consumer gets the same events again and applies none of them twice.
    async with running_consumers(settings, database):
        await eventually(lambda: all_committed(settings, len(events)))
    assert await plays_per_user(database, listeners) == expected(listeners)
    assert await applied_count(database) == len(events)


async def test_a_poison_message_is_dead_lettered_with_its_reason_and_the_next_is_applied(
    database: Database, settings: PlaybackSettings, unique: str
) -> None:
    listener = Listener(f"user-{unique}").listen_through(track(1))
    start, end = listener.events
    key, _, headers = to_kafka(playback_event(start.data, event_id=start.event_id))
    await publish_raw(settings.kafka_bootstrap, settings.events_topic, key, b"{garbage", headers)
    await publish(settings.kafka_bootstrap, settings.events_topic, [start, end])

    async with running_consumers(settings, database):
        await eventually(lambda: all_committed(settings, 3))
        letters = await read_topic(settings.kafka_bootstrap, settings.dead_letter_topic, 1)

    assert len(letters) == 1
    letter = letters[0]
    letter_headers = {name: raw.decode() for name, raw in letter.headers}
    assert letter.key == key and letter.value == b"{garbage"
    assert letter_headers["dlq_reason_code"] == "malformed"
    assert "PlaybackEventData" in letter_headers["dlq_reason"]
    assert letter_headers["dlq_topic"] == settings.events_topic
    assert letter_headers["dlq_offset"] == "0"
    assert letter_headers["ce_id"] == start.event_id  # the original headers travel along
    assert (await plays_per_user(database, [listener]))[listener.user_id] == ["track-1"]


async def test_an_unreachable_database_is_retried_never_dead_lettered(
    database: Database, settings: PlaybackSettings, unique: str
) -> None:
    listener = Listener(f"user-{unique}").listen_through(track(1))
    await publish(settings.kafka_bootstrap, settings.events_topic, listener.events)
    # Nothing listens on port 9 of the loopback: every connection is refused.
    down = settings.model_copy(
        update={"database_url": "postgresql+asyncpg://playback:x@127.0.0.1:9/playback"}
    )
    unreachable = Database(down.database_url, pool_size=1)
    try:
        async with running_consumers(down, unreachable):
            await asyncio.sleep(3)
    finally:
        await unreachable.dispose()
    assert not await all_committed(settings, 1)
    assert await read_topic(settings.kafka_bootstrap, settings.dead_letter_topic, 1, 2) == []

    async with running_consumers(settings, database):  # the database is back
        await eventually(lambda: all_committed(settings, len(listener.events)))
    assert (await plays_per_user(database, [listener]))[listener.user_id] == ["track-1"]


async def test_a_deleted_users_playback_data_is_erased(
    database: Database, settings: PlaybackSettings, unique: str
) -> None:
    alice = Listener(f"alice-{unique}").listen_through(track(1))
    bob = Listener(f"bob-{unique}").listen_through(track(2))
    await publish(settings.kafka_bootstrap, settings.events_topic, alice.events + bob.events)

    async def alice_erased() -> bool:
        return (await plays_per_user(database, [alice]))[alice.user_id] == []

    async with running_consumers(settings, database):
        await eventually(lambda: all_committed(settings, 4))
        assert (await plays_per_user(database, [alice]))[alice.user_id] == ["track-1"]
        deleted = user_deleted_event(UserDeleted(user_id=alice.user_id, deleted_at=T0))
        key, value, headers = to_kafka(deleted)
        await publish_raw(settings.kafka_bootstrap, settings.users_topic, key, value, headers)
        await eventually(alice_erased)
        # An event of hers still in flight after the deletion does not bring her back.
        await publish(
            settings.kafka_bootstrap,
            settings.events_topic,
            alice.listen_through(track(3)).events[-2:],
        )
        await eventually(lambda: all_committed(settings, 6))

    assert await plays_per_user(database, [alice, bob]) == {
        alice.user_id: [],
        bob.user_id: ["track-2"],
    }


async def test_events_of_an_aborted_transaction_never_reach_the_history(
    database: Database, settings: PlaybackSettings, unique: str
) -> None:
    # The watcher publishes in transactions; one that aborts is retried with the same ids,
    # and what it had sent before aborting must never count.
    aborted, kept = Listener(f"aborted-{unique}"), Listener(f"kept-{unique}")
    aborted.listen_through(track(1)).stop()
    kept.listen_through(track(2)).stop()
    producer = create_producer(
        settings.kafka_bootstrap, client_id=f"tx-{unique}", transactional_id=f"tx-{unique}"
    )
    await producer.start()
    try:
        for listener, fails in ((aborted, True), (kept, False)):
            with contextlib.suppress(RuntimeError):
                async with producer.transaction():
                    for event in listener.events:
                        key, value, headers = to_kafka(
                            playback_event(event.data, event_id=event.event_id)
                        )
                        await (
                            await producer.send(
                                settings.events_topic, key=key, value=value, headers=headers
                            )
                        )
                    if fails:
                        raise RuntimeError("the batch could not be completed")
    finally:
        await producer.stop()

    async def kept_is_applied() -> bool:
        return (await plays_per_user(database, [kept]))[kept.user_id] == ["track-2"]

    async with running_consumers(settings, database):
        await eventually(kept_is_applied)
        await asyncio.sleep(1.0)  # any later batch would have arrived by now
    assert (await plays_per_user(database, [aborted]))[aborted.user_id] == []
