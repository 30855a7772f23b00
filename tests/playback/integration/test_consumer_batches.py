"""The playback consumer applying whole polls of records in one transaction: several events of
one user, duplicates and replays, a record the database refuses, a process killed between the
database's commit and Kafka's, all inside one batch."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Sequence

import pytest
from sqlalchemy import func, select

from backbeat.events.playback import Artist, PlaybackEventData, PlaybackEventKind, Track
from backbeat.playback.domain.play_rule import PlayRule
from backbeat.playback.domain.projection import IncomingEvent
from backbeat.playback.settings import PlaybackSettings
from backbeat.playback.store.projection import BatchOutcome, PlaybackProjection
from backbeat.playback.store.queries import history, now_playing
from backbeat.playback.store.tables import processed_events
from backbeat.runtime.database import Database
from tests.playback.integration.harness import (
    all_committed,
    committed_offsets,
    eventually,
    publish,
    read_topic,
    running_consumers,
)
from tests.playback.scenarios import Listener, track

pytestmark = pytest.mark.integration


class RecordingProjection(PlaybackProjection):
    """The service's projection, keeping what each transaction was given (``attempts``), which
    of them committed (``batches``) and what those did (``outcome``)."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, PlayRule())
        self.attempts: list[list[IncomingEvent]] = []
        self.batches: list[list[IncomingEvent]] = []
        self.outcome = BatchOutcome()

    async def apply(self, events: Sequence[IncomingEvent]) -> BatchOutcome:
        self.attempts.append(list(events))
        outcome = await super().apply(events)
        self.batches.append(list(events))
        self.outcome.merge(outcome)
        return outcome


def holding(batches: list[list[IncomingEvent]], *events: IncomingEvent) -> list[IncomingEvent]:
    """The first of ``batches`` that held all of ``events`` (a test's precondition)."""
    ids = {event.event_id for event in events}
    for batch in batches:
        if ids <= {event.event_id for event in batch}:
            return batch
    raise AssertionError("no batch held all of those events")


async def plays_of(database: Database, user_id: str) -> list[tuple[str, int]]:
    async with database.session() as session:
        page = await history(session, user_id)
    return [(play.track.id, play.listened_ms) for play in reversed(page.items)]


async def applied_ids(database: Database) -> int:
    async with database.session() as session:
        return int(
            (await session.execute(select(func.count()).select_from(processed_events))).scalar_one()
        )


def interleaved(*listeners: Listener) -> list[IncomingEvent]:
    """The listeners' events taken in turn, each listener's in its own order."""
    streams = [list(listener.events) for listener in listeners]
    merged: list[IncomingEvent] = []
    while any(streams):
        for stream in streams:
            if stream:
                merged.append(stream.pop(0))
    return merged


async def test_one_users_events_in_one_batch_apply_in_their_order(
    database: Database, settings: PlaybackSettings, unique: str
) -> None:
    # Heard 60 s, paused 30 s, heard 140 s more: only that order makes a 200 s play.
    alice = Listener(f"alice-{unique}").start(track(1)).wait(60).pause(60_000)
    alice.wait(30).resume(60_000).wait(140).end()
    alice.start(track(2)).wait(20).seek(150_000).wait(50).end()  # 20 s + 50 s: no play
    bob = Listener(f"bob-{unique}").listen_through(track(3))
    events = interleaved(alice, bob)
    await publish(settings.kafka_bootstrap, settings.events_topic, events)

    projection = RecordingProjection(database)
    async with running_consumers(settings, database, projection=projection):
        await eventually(lambda: all_committed(settings, len(events)))

    assert len(holding(projection.batches, *alice.events)) > len(alice.events)  # bob's too
    assert await plays_of(database, alice.user_id) == [("track-1", 200_000)]
    assert await plays_of(database, bob.user_id) == [("track-3", 200_000)]
    async with database.session() as session:
        state = await now_playing(session, alice.user_id)
    assert state is not None and state.track is not None
    assert (state.track.id, state.last_sequence) == ("track-2", alice.sequence)


async def test_a_batch_of_duplicates_and_replays_applies_each_event_once(
    database: Database, settings: PlaybackSettings, unique: str
) -> None:
    alice = Listener(f"alice-{unique}").listen_through(track(1)).listen_through(track(2))
    bob = Listener(f"bob-{unique}").listen_through(track(3))
    first = alice.events[:3]  # applied before, then delivered again with the rest
    await publish(settings.kafka_bootstrap, settings.events_topic, first)
    async with running_consumers(settings, database):
        await eventually(lambda: all_committed(settings, len(first)))

    # One batch: every event twice in a row, the first three a third time, and alice's whole
    # stream replayed under new ids (the same sequences).
    replayed = [IncomingEvent(f"replay-{e.event_id}", e.data) for e in alice.events]
    batch = [copy for e in interleaved(alice, bob) for copy in (e, e)] + first + replayed
    await publish(settings.kafka_bootstrap, settings.events_topic, batch)
    projection = RecordingProjection(database)
    async with running_consumers(settings, database, projection=projection):
        await eventually(lambda: all_committed(settings, len(first) + len(batch)))

    holding(projection.batches, *alice.events[3:], *replayed, *bob.events)
    assert await plays_of(database, alice.user_id) == [("track-1", 200_000), ("track-2", 200_000)]
    assert await plays_of(database, bob.user_id) == [("track-3", 200_000)]
    new_events = len(alice.events) - len(first) + len(bob.events)
    assert projection.outcome.applied == new_events
    assert projection.outcome.skipped == len(batch) - new_events


def refused_by_the_database(listener: Listener) -> IncomingEvent:
    """A valid event whose track name PostgreSQL cannot store (a NUL character): the
    database refuses, for good, every transaction that must write it (as the user's state
    when it is their last event in the batch)."""
    listener.sequence += 1
    data = PlaybackEventData(
        kind=PlaybackEventKind.TRACK_STARTED,
        user_id=listener.user_id,
        sequence=listener.sequence,
        track=Track(
            id="track-nul",
            uri="spotify:track:track-nul",
            name="Song\x00",
            artists=[Artist(id="artist-nul", name="Artist")],
            duration_ms=200_000,
        ),
        progress_ms=0,
        is_playing=True,
        observed_at=listener.now,
    )
    event = IncomingEvent(f"{listener.user_id}-{listener.sequence}", data)
    listener.events.append(event)
    return event


async def test_a_record_the_database_refuses_in_the_middle_of_a_batch_is_dead_lettered_alone(
    database: Database, settings: PlaybackSettings, unique: str
) -> None:
    alice = Listener(f"alice-{unique}").listen_through(track(1)).listen_through(track(2))
    bob = Listener(f"bob-{unique}")
    for n in (3, 4, 5):
        bob.listen_through(track(n))
    # Her play before it, in the same batch, still counts; the refused start is her last
    # event, so the state it leaves is what the database would have to store.
    mallory = Listener(f"mallory-{unique}").listen_through(track(6))
    poison = refused_by_the_database(mallory)
    events = interleaved(alice, bob, mallory)
    await publish(settings.kafka_bootstrap, settings.events_topic, events)

    projection = RecordingProjection(database)
    async with running_consumers(settings, database, projection=projection):
        await eventually(lambda: all_committed(settings, len(events)))
        letters = await read_topic(settings.kafka_bootstrap, settings.dead_letter_topic, 1)
        # Only the refused record: none of its batch's other records follows it there.
        assert (
            await read_topic(settings.kafka_bootstrap, settings.dead_letter_topic, 2, 1) == letters
        )

    assert len(letters) == 1
    headers = {name: raw.decode() for name, raw in letters[0].headers}
    assert headers["ce_id"] == poison.event_id
    assert headers["dlq_reason_code"] == "apply_failed"
    assert "Song" not in headers["dlq_reason"]  # the database's reason, not the data
    # All of them came in one poll, and the records around the refused one were applied.
    assert holding(projection.attempts, *events)
    assert projection.outcome.applied == len(events) - 1
    assert events.index(poison) not in (0, len(events) - 1)
    assert await plays_of(database, alice.user_id) == [("track-1", 200_000), ("track-2", 200_000)]
    assert await plays_of(database, bob.user_id) == [(f"track-{n}", 200_000) for n in (3, 4, 5)]
    assert await plays_of(database, mallory.user_id) == [("track-6", 200_000)]
    assert await applied_ids(database) == len(events) - 1


async def test_a_consumer_killed_between_the_two_commits_loses_and_doubles_nothing(
    database: Database, settings: PlaybackSettings, unique: str
) -> None:
    listeners = [Listener(f"user-{n}-{unique}").listen_through(track(n)) for n in range(3)]
    for listener in listeners:
        listener.start(track(9)).wait(30).pause(30_000).wait(10).resume(30_000).wait(170).end()
    events = interleaved(*listeners)
    await publish(settings.kafka_bootstrap, settings.events_topic, events)

    env = {
        "BACKBEAT_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "BACKBEAT_PLAYBACK_DATABASE_URL": settings.database_url,
        "BACKBEAT_PLAYBACK_EVENTS_TOPIC": settings.events_topic,
        "BACKBEAT_PLAYBACK_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
        "BACKBEAT_PLAYBACK_USERS_TOPIC": settings.users_topic,
        "BACKBEAT_PLAYBACK_CONSUMER_GROUP": settings.consumer_group,
        "BACKBEAT_PLAYBACK_ERASURE_CONSUMER_GROUP": settings.erasure_consumer_group,
        # Its first batch, the one it commits before it dies, holds a few of the events.
        "BACKBEAT_PLAYBACK_BATCH_MAX_RECORDS": "4",
    }
    killed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tests.playback.integration.killed_consumer"],
        env={**os.environ, **env},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr.decode(errors="replace")[-2000:]
    first_batch = await applied_ids(database)
    assert 0 < first_batch < len(events)  # the database has the first batch
    assert (
        sum(
            (
                await committed_offsets(
                    settings.kafka_bootstrap, settings.consumer_group, settings.events_topic
                )
            ).values()
        )
        == 0
    )  # but Kafka was never told of any record

    async with running_consumers(settings, database):
        await eventually(lambda: all_committed(settings, len(events)), timeout_s=60)
    for n, listener in enumerate(listeners):
        assert await plays_of(database, listener.user_id) == [
            (f"track-{n}", 200_000),
            ("track-9", 200_000),
        ]
    assert await applied_ids(database) == len(events)
