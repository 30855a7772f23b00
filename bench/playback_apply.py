"""Benchmark: playback events applied per second by one consumer process, against the raw
consume rate of the same topic by the same client (the service's consumer loop, with its batch
size and offset commits) with no decoding or database work, in the same run.

Pre-fills a fresh topic with N valid events for U users (each user starting, pausing,
resuming, seeking and finishing tracks), then reads it twice in fresh consumer groups: once
with a handler that only counts records, once with the service's own consumer applying them
to PostgreSQL exactly once. Loopback only; bounded by --timeout. Prints one JSON line last.

    python bench/playback_apply.py [--events 50000] [--users 1000]

Uses BACKBEAT_KAFKA_BOOTSTRAP and BACKBEAT_PLAYBACK_DATABASE_URL (the development database by
default; the schema is migrated first, and the rows this run wrote are deleted at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete

from backbeat.events.cloudevents import to_kafka
from backbeat.events.playback import (
    Artist,
    Device,
    PlaybackEventData,
    PlaybackEventKind,
    Track,
    playback_event,
)
from backbeat.playback.consumers.batch_pipeline import BatchPipeline
from backbeat.playback.consumers.metrics import ConsumerMetrics
from backbeat.playback.consumers.playback_events import Record
from backbeat.playback.consumers.runtime import PlaybackConsumers, play_rule, topic_specs
from backbeat.playback.domain.projection import IncomingEvent
from backbeat.playback.settings import PlaybackSettings
from backbeat.playback.store.migrate import upgrade
from backbeat.playback.store.projection import BatchOutcome, PlaybackProjection
from backbeat.playback.store.tables import erased_users, plays, processed_events, user_playback
from backbeat.runtime.database import Database
from backbeat.runtime.kafka import create_producer, ensure_topics
from backbeat.runtime.testing import delete_run_topics

TARGET_EVENTS_PER_S = 5_000
DEVICE = Device(id="bench-device", name="Bench", type="Computer")


def user_events(user_id: str, count: int, start: datetime) -> list[PlaybackEventData]:
    """``count`` events of one listener: start, pause, resume, seek, end, over and over."""
    events: list[PlaybackEventData] = []
    now, n = start, 0
    cycle = (
        PlaybackEventKind.TRACK_STARTED,
        PlaybackEventKind.PAUSED,
        PlaybackEventKind.RESUMED,
        PlaybackEventKind.SEEKED,
        PlaybackEventKind.TRACK_ENDED,
    )
    while len(events) < count:
        kind = cycle[len(events) % len(cycle)]
        if kind is PlaybackEventKind.TRACK_STARTED:
            n += 1
            track = Track(
                id=f"track-{n % 500}",
                uri=f"spotify:track:track-{n % 500}",
                name=f"Song {n % 500}",
                artists=[Artist(id=f"artist-{n % 50}", name=f"Artist {n % 50}")],
                duration_ms=200_000,
            )
        progress = {
            PlaybackEventKind.TRACK_STARTED: 0,
            PlaybackEventKind.PAUSED: 60_000,
            PlaybackEventKind.RESUMED: 60_000,
            PlaybackEventKind.SEEKED: 120_000,
            PlaybackEventKind.TRACK_ENDED: 200_000,
        }[kind]
        events.append(
            PlaybackEventData(
                kind=kind,
                user_id=user_id,
                sequence=len(events) + 1,
                track=track,
                progress_ms=progress,
                is_playing=kind not in (PlaybackEventKind.PAUSED, PlaybackEventKind.TRACK_ENDED),
                device=DEVICE,
                observed_at=now,
            )
        )
        now += timedelta(seconds=60)
    return events


async def prefill(bootstrap: str, topic: str, run: str, events: int, users: int) -> None:
    per_user = events // users
    start = datetime(2026, 1, 1, tzinfo=UTC)
    streams = [user_events(f"bench-{run}-{u}", per_user, start) for u in range(users)]
    producer = create_producer(
        bootstrap, client_id="bench-playback-prefill", linger_ms=20, max_batch_size=256 * 1024
    )
    await producer.start()
    try:
        futures = []
        for i in range(per_user):
            for stream in streams:
                key, value, headers = to_kafka(playback_event(stream[i]))
                futures.append(await producer.send(topic, key=key, value=value, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


class CountingHandler:
    """Decodes nothing and applies nothing: counts the records the loop hands it."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.seen = 0
        self.first: float | None = None
        self.first_cpu = 0.0
        self.last_cpu = 0.0
        self.done = asyncio.Event()

    async def decode(self, records: Sequence[Record]) -> int:
        if self.first is None:
            self.first = time.perf_counter()
            self.first_cpu = time.process_time()
        return len(records)

    async def apply(self, batch: int) -> None:
        self.seen += batch
        if self.seen >= self.expected:
            self.last_cpu = time.process_time()
            self.done.set()


async def raw_consume_rate(
    settings: PlaybackSettings, group: str, expected: int
) -> tuple[float, float]:
    """Records per second read by the service's consumer loop (the same client, batch size
    and offset commits) doing nothing else, and this process's CPU seconds per record."""
    counter = CountingHandler(expected)
    pipeline = BatchPipeline(
        settings.kafka_bootstrap,
        counter,
        topic=settings.events_topic,
        group_id=group,
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        client_id="bench-playback-raw",
    )
    await pipeline.start()
    try:
        await counter.done.wait()
        elapsed = time.perf_counter() - (counter.first or 0)
    finally:
        await pipeline.stop()
    return counter.seen / elapsed, (counter.last_cpu - counter.first_cpu) / counter.seen


class TimedProjection(PlaybackProjection):
    """The service's projection, noting when the first batch began and the last committed."""

    def __init__(self, database: Database, settings: PlaybackSettings, expected: int) -> None:
        super().__init__(database, play_rule(settings))
        self.expected = expected
        self.handled = 0
        self.batches = 0
        self.applied = 0
        self.first: float | None = None
        self.last = 0.0
        self.first_cpu = 0.0
        self.last_cpu = 0.0
        self.done = asyncio.Event()

    async def apply(self, events: Sequence[IncomingEvent]) -> BatchOutcome:
        if self.first is None:
            self.first = time.perf_counter()
            self.first_cpu = time.process_time()
        outcome = await super().apply(events)
        self.last = time.perf_counter()
        self.last_cpu = time.process_time()
        self.handled += len(events)
        self.batches += 1
        self.applied += outcome.applied
        if self.handled >= self.expected:
            self.done.set()
        return outcome


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    run = uuid.uuid4().hex[:8]
    base = PlaybackSettings()
    settings = base.model_copy(
        update={
            "events_topic": f"bench.playback.events.{run}",
            "dead_letter_topic": f"bench.playback.events.dlq.{run}",
            "users_topic": f"bench.auth.users.{run}",
            "revocations_topic": f"bench.auth.revocations.{run}",
            "consumer_group": f"bench-playback-apply-{run}",
            "erasure_consumer_group": f"bench-playback-erasure-{run}",
            "events_partitions": args.partitions,
        }
    )
    expected = (args.events // args.users) * args.users
    await asyncio.to_thread(upgrade, settings.database_url)
    await ensure_topics(settings.kafka_bootstrap, topic_specs(settings))
    started = time.perf_counter()
    await prefill(settings.kafka_bootstrap, settings.events_topic, run, args.events, args.users)
    print(f"pre-filled {expected} events in {time.perf_counter() - started:.1f} s", file=sys.stderr)

    raw, raw_cpu = await asyncio.wait_for(
        raw_consume_rate(settings, f"bench-playback-raw-{run}", expected), args.timeout
    )
    print(f"raw consume: {raw:,.0f} records/s", file=sys.stderr)

    database = Database(settings.database_url, pool_size=2)
    projection = TimedProjection(database, settings, expected)
    consumers = PlaybackConsumers(settings, database, ConsumerMetrics(), projection=projection)
    try:
        await consumers.start()
        try:
            await asyncio.wait_for(projection.done.wait(), args.timeout)
        finally:
            await consumers.stop()
        applied_per_s = projection.handled / (projection.last - (projection.first or 0))
        # This process's CPU (decoding, folding, the driver) over the same span.
        cpu_per_event = (projection.last_cpu - projection.first_cpu) / projection.handled
        print(f"applied: {applied_per_s:,.0f} events/s", file=sys.stderr)
    finally:
        async with database.session() as session:
            for table in (plays, processed_events, user_playback, erased_users):
                await session.execute(delete(table).where(table.c.user_id.like(f"bench-{run}-%")))
        await database.dispose()
        await delete_run_topics(settings.kafka_bootstrap, run)

    print(
        json.dumps(
            {
                "bench": "playback_apply",
                "results": {
                    "events_per_s": round(applied_per_s),
                    "events": expected,
                    "events_applied": projection.applied,
                    "users": args.users,
                    "partitions": args.partitions,
                    "batch_max_records": settings.batch_max_records,
                    "mean_batch": round(projection.handled / max(1, projection.batches)),
                    "target_events_per_s": TARGET_EVENTS_PER_S,
                    "cpu_us_per_event": round(cpu_per_event * 1e6, 1),
                },
                "baseline": {
                    "raw_consume_per_s": round(raw),
                    "raw_cpu_us_per_record": round(raw_cpu * 1e6, 1),
                },
                "ratio": {
                    "applied_to_raw": round(applied_per_s / raw, 3),
                    "applied_to_target": round(applied_per_s / TARGET_EVENTS_PER_S, 2),
                },
            }
        )
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    asyncio.run(main())
