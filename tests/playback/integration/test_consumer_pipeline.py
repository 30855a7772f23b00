"""The playback consumer fetching and decoding the next batch while the one before it applies:
batches still apply one at a time and in order, a failure in either loses and doubles
nothing, and the group's offsets never pass what the database holds."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import select

from backbeat.playback.consumers.metrics import ConsumerMetrics
from backbeat.playback.consumers.playback_events import DecodedBatch, Record
from backbeat.playback.consumers.runtime import PlaybackConsumers
from backbeat.playback.domain.play_rule import PlayRule
from backbeat.playback.domain.projection import IncomingEvent
from backbeat.playback.settings import PlaybackSettings
from backbeat.playback.store.failures import TransientStoreFailure
from backbeat.playback.store.projection import BatchOutcome, PlaybackProjection
from backbeat.playback.store.queries import history
from backbeat.playback.store.tables import processed_events
from backbeat.runtime.database import Database
from tests.playback.integration.harness import (
    all_committed,
    committed_offsets,
    eventually,
    publish,
    read_topic,
)
from tests.playback.scenarios import Listener, track

pytestmark = pytest.mark.integration

# Small batches: a few users' events make many of them, each fetched behind the one before.
BATCH = 4


def listeners(unique: str, count: int = 4) -> list[Listener]:
    made = []
    for n in range(count):
        listener = Listener(f"user-{n}-{unique}").listen_through(track(n))
        listener.start(track(10 + n)).wait(60).pause(60_000).wait(5).resume(60_000)
        listener.wait(140).end()
        made.append(listener)
    return made


def all_events(made: Sequence[Listener]) -> list[IncomingEvent]:
    return [event for listener in made for event in listener.events]


async def applied_ids(database: Database) -> set[str]:
    async with database.session() as session:
        return set((await session.execute(select(processed_events.c.event_id))).scalars())


async def assert_each_applied_once(database: Database, made: Sequence[Listener]) -> None:
    assert await applied_ids(database) == {e.event_id for e in all_events(made)}
    for n, listener in enumerate(made):
        async with database.session() as session:
            page = await history(session, listener.user_id)
        plays = [(play.track.id, play.listened_ms) for play in reversed(page.items)]
        assert plays == [(f"track-{n}", 200_000), (f"track-{10 + n}", 200_000)]


class WatchedProjection(PlaybackProjection):
    """The service's projection, noting whether two transactions ever overlapped, what each
    committed one held, and failing (transiently) the attempts listed in ``fail``."""

    def __init__(self, database: Database, fail: Sequence[int] = ()) -> None:
        super().__init__(database, PlayRule())
        self.fail = set(fail)
        self.attempts = 0
        self.in_flight = 0
        self.overlapped = False
        self.committed: list[list[str]] = []
        self.outcome = BatchOutcome()

    async def apply(self, events: Sequence[IncomingEvent]) -> BatchOutcome:
        self.attempts += 1
        self.in_flight += 1
        self.overlapped |= self.in_flight > 1
        try:
            await self.before(events)
            if self.attempts in self.fail:
                raise TransientStoreFailure("the database went away")
            outcome = await super().apply(events)
        finally:
            self.in_flight -= 1
        self.committed.append([event.event_id for event in events])
        self.outcome.merge(outcome)
        return outcome

    async def before(self, events: Sequence[IncomingEvent]) -> None:
        """Runs at the start of every attempt."""


class RecordingDecoder:
    """Wraps the consumer's decode: notes whether a batch was decoded while another was
    being applied, and raises instead of decoding on the calls listed in ``fail``."""

    def __init__(self, consumers: PlaybackConsumers, projection: WatchedProjection) -> None:
        self.handler = consumers.playback_events
        self.decode_inner = self.handler.decode
        self.projection = projection
        self.calls = 0
        self.decoded_while_applying = 0
        self.fail: set[int] = set()
        self.handler.decode = self.decode  # type: ignore[method-assign]

    async def decode(self, records: Sequence[Record]) -> DecodedBatch:
        self.calls += 1
        if self.calls in self.fail:
            raise RuntimeError("a bug in decoding")
        applying, attempts = self.projection.in_flight, self.projection.attempts
        decoded = await self.decode_inner(records)
        if applying or self.projection.in_flight or self.projection.attempts != attempts:
            self.decoded_while_applying += 1
        return decoded


async def run_until_committed(
    settings: PlaybackSettings,
    database: Database,
    projection: WatchedProjection,
    published: int,
    *,
    failing_decodes: Sequence[int] = (),
) -> RecordingDecoder:
    """Run one consumer process with small batches until the group committed ``published``
    records; its decoder (what it saw) is returned."""
    consumers = PlaybackConsumers(
        settings.model_copy(update={"batch_max_records": BATCH}),
        database,
        ConsumerMetrics(registry=None),
        projection=projection,
    )
    decoder = RecordingDecoder(consumers, projection)
    decoder.fail = set(failing_decodes)
    await consumers.start()
    try:
        await eventually(lambda: all_committed(settings, published))
    finally:
        await consumers.stop()
    return decoder


async def test_batches_apply_one_at_a_time_while_the_next_is_decoded(
    database: Database, settings: PlaybackSettings, unique: str
) -> None:
    made = listeners(unique)
    events = all_events(made)
    await publish(settings.kafka_bootstrap, settings.events_topic, events)

    projection = WatchedProjection(database)
    decoder = await run_until_committed(settings, database, projection, len(events))

    assert len(projection.committed) >= len(events) // BATCH
    assert decoder.decoded_while_applying > 0  # the next batch was decoded meanwhile
    assert not projection.overlapped  # but never applied alongside
    assert projection.outcome.applied == len(events)
    await assert_each_applied_once(database, made)


async def test_a_batch_whose_transaction_fails_comes_again_with_the_one_fetched_behind_it(
    database: Database, settings: PlaybackSettings, unique: str
) -> None:
    made = listeners(unique)
    events = all_events(made)
    await publish(settings.kafka_bootstrap, settings.events_topic, events)

    # The second batch fails on every attempt its first delivery gets (the test settings
    # retry once), while the third is already decoded behind it.
    projection = WatchedProjection(database, fail=(2, 3))
    decoder = await run_until_committed(settings, database, projection, len(events))

    assert decoder.decoded_while_applying > 0
    assert projection.attempts > len(projection.committed)  # the failed attempts
    assert not projection.overlapped
    assert projection.outcome.applied == len(events)
    await assert_each_applied_once(database, made)


async def test_a_batch_that_fails_to_decode_comes_again_and_nothing_is_lost(
    database: Database, settings: PlaybackSettings, unique: str
) -> None:
    made = listeners(unique)
    events = all_events(made)
    await publish(settings.kafka_bootstrap, settings.events_topic, events)

    projection = WatchedProjection(database)
    # The second decode raises, while the first batch applies.
    decoder = await run_until_committed(
        settings, database, projection, len(events), failing_decodes=(2,)
    )

    assert decoder.calls > len(projection.committed)
    assert projection.outcome.applied == len(events)
    await assert_each_applied_once(database, made)


async def test_the_groups_offsets_never_pass_what_the_database_holds(
    database: Database, settings: PlaybackSettings, unique: str
) -> None:
    made = listeners(unique)
    events = all_events(made)
    await publish(settings.kafka_bootstrap, settings.events_topic, events)
    records = await read_topic(settings.kafka_bootstrap, settings.events_topic, len(events))
    event_at = {
        (record.partition, record.offset): dict(record.headers)["ce_id"].decode()
        for record in records
    }

    class CheckingProjection(WatchedProjection):
        checks = 0
        violations: list[set[str]] = []

        async def before(self, events: Sequence[IncomingEvent]) -> None:
            # Whatever the group has committed, the database must already hold.
            committed = await committed_offsets(
                settings.kafka_bootstrap, settings.consumer_group, settings.events_topic
            )
            covered = {
                event_id
                for (partition, offset), event_id in event_at.items()
                if offset < committed.get(partition, 0)
            }
            if missing := covered - await applied_ids(self.database):
                self.violations.append(missing)
            self.checks += 1

    # Every third attempt fails: batches come again, and the next is always decoded ahead.
    projection = CheckingProjection(database, fail=range(3, 200, 3))
    await run_until_committed(settings, database, projection, len(events))

    assert projection.checks > len(events) // BATCH
    assert projection.violations == []  # offsets committed for events not in the database
    assert projection.outcome.applied == len(events)
    await assert_each_applied_once(database, made)


async def test_a_rebalance_while_a_batch_applies_leaves_each_event_applied_once(
    database: Database, settings: PlaybackSettings, unique: str
) -> None:
    made = listeners(unique, count=6)
    events = all_events(made)
    await publish(settings.kafka_bootstrap, settings.events_topic, events)
    small = settings.model_copy(update={"batch_max_records": BATCH})
    consumers: list[PlaybackConsumers] = []

    class HeldUntilRevoked(WatchedProjection):
        async def before(self, events: Sequence[IncomingEvent]) -> None:
            # The third batch applies until the group takes partitions away (the next one
            # is fetched and decoded meanwhile): the revocation waits for it, commits it,
            # and the batch behind it goes back to the partitions' next owner.
            if self.attempts == 3:
                pipeline = consumers[0].pipeline

                async def revoking() -> bool:
                    return pipeline.generation > 0

                await eventually(revoking)

    first, second = HeldUntilRevoked(database), WatchedProjection(database)
    for projection in (first, second):
        consumers.append(
            PlaybackConsumers(
                small, database, ConsumerMetrics(registry=None), projection=projection
            )
        )
    await consumers[0].start()
    try:

        async def third_batch_applying() -> bool:
            return first.attempts >= 3

        await eventually(third_batch_applying)
        await consumers[1].start()
        try:
            await eventually(lambda: all_committed(settings, len(events)), timeout_s=60)
        finally:
            await consumers[1].stop()
    finally:
        await consumers[0].stop()

    assert consumers[0].pipeline.generation >= 1  # partitions were taken mid-batch
    assert first.outcome.applied + second.outcome.applied == len(events)
    await assert_each_applied_once(database, made)
