"""The consumer of ``playback.events``: batches of records into the projection, exactly once.

For each batch: every record is decoded and checked; those that cannot be read or applied
become dead letters. The rest are applied in one transaction (see ``store.projection``): a
few statements for the whole batch, so its size costs rows, not round trips. A transient
database failure is retried, then handed back to Kafka (the handler raises, the batch is
redelivered); a permanent one makes the batch apply in halves, and halves of those, in
delivery order, until the records that fail stand alone and are dead-lettered: the others are
applied as if one by one. ``apply`` returns only after the transactions committed and the dead
letters were acknowledged; ``batch_pipeline`` commits the batch's offsets after that, and
decodes the next batch while this one applies.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

from aiokafka import ConsumerRecord

from backbeat.events.cloudevents import MalformedEvent, read_record
from backbeat.events.playback import PlaybackEventData, PlaybackEventKind
from backbeat.playback.consumers.dead_letters import DeadLetter, DeadLetters, PoisonCode
from backbeat.playback.consumers.metrics import ConsumerMetrics
from backbeat.playback.consumers.retry import RetryPolicy, with_store_retries
from backbeat.playback.domain.listening import InvalidEvent, validate_event
from backbeat.playback.domain.projection import IncomingEvent
from backbeat.playback.store.failures import PermanentStoreFailure, TransientStoreFailure
from backbeat.playback.store.projection import BatchOutcome

log = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord[Any, Any]

# Records decoded between two turns of the event loop (a few milliseconds of work).
DECODE_TURN = 250


class Projection(Protocol):
    async def apply(self, events: Sequence[IncomingEvent]) -> BatchOutcome: ...


@dataclass(slots=True)
class DecodedBatch:
    """A batch of records, decoded: what to apply and what to dead-letter."""

    events: list[tuple[IncomingEvent, Record]] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    decode_seconds: float = 0.0


class PoisonRecord(Exception):
    def __init__(self, code: PoisonCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def decode_playback_record(record: Record) -> IncomingEvent:
    """The event in ``record``, or ``PoisonRecord`` saying why there is none."""
    try:
        # The attributes and the data, without building a CloudEvent envelope around them:
        # the projection needs only the id, and this runs for every record.
        attributes, data = read_record(record.key, record.value, record.headers, PlaybackEventData)
    except MalformedEvent as exc:
        raise PoisonRecord(PoisonCode.MALFORMED, exc.reason) from exc
    event_type = attributes["type"]
    try:
        kind = PlaybackEventKind.from_event_type(event_type)
    except ValueError as exc:
        raise PoisonRecord(PoisonCode.MALFORMED, str(exc)) from exc
    if kind is not data.kind:
        raise PoisonRecord(PoisonCode.MALFORMED, f"ce_type {event_type} but data.kind {kind}")
    if attributes["subject"] != data.user_id:
        raise PoisonRecord(PoisonCode.MALFORMED, "ce_subject does not match data.user_id")
    try:
        validate_event(data)
    except InvalidEvent as exc:
        raise PoisonRecord(PoisonCode.INVALID, exc.reason) from exc
    return IncomingEvent(attributes["id"], data)


class PlaybackEventsConsumer:
    """Handles one batch of ``playback.events`` records; see the module docstring."""

    def __init__(
        self,
        projection: Projection,
        dead_letters: DeadLetters,
        metrics: ConsumerMetrics,
        retry: RetryPolicy,
    ) -> None:
        self.projection = projection
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.retry = retry

    async def decode(self, records: Sequence[Record]) -> DecodedBatch:
        """Decode and check every record: the events to apply, in delivery order, and the
        dead letters of the records that cannot be. No I/O; it gives the event loop a turn
        every ``DECODE_TURN`` records, so that the batch applying meanwhile sends its next
        statement as soon as the database answered the last one."""
        started = time.perf_counter()
        batch = DecodedBatch()
        for n, record in enumerate(records, 1):
            try:
                batch.events.append((decode_playback_record(record), record))
            except PoisonRecord as poison:
                batch.letters.append(DeadLetter(record, poison.code, poison.reason))
            if n % DECODE_TURN == 0:
                batch.decode_seconds += time.perf_counter() - started
                await asyncio.sleep(0)
                started = time.perf_counter()
        batch.decode_seconds += time.perf_counter() - started
        return batch

    async def apply(self, batch: DecodedBatch) -> None:
        """Apply the batch's events and send its dead letters; returns once the transactions
        committed and the broker acknowledged the letters."""
        started = time.perf_counter()
        outcome, failed = await self._apply(batch.events)
        letters = [*batch.letters, *failed]
        for letter in letters:
            log.warning(
                "playback event dead-lettered",
                extra={
                    "reason_code": letter.code.value,
                    "reason": letter.reason,
                    "topic": letter.record.topic,
                    "partition": letter.record.partition,
                    "offset": letter.record.offset,
                },
            )
        await self.dead_letters.send(letters)
        self._count(outcome, len(letters))
        self.metrics.batch_seconds.observe(batch.decode_seconds + time.perf_counter() - started)

    async def handle(self, records: Sequence[Record]) -> None:
        """Decode and apply one batch."""
        await self.apply(await self.decode(records))

    async def _apply_once(self, events: Sequence[IncomingEvent]) -> BatchOutcome:
        def count(_: TransientStoreFailure) -> None:
            self.metrics.transient_failures.labels("playback_events").inc()

        return await with_store_retries(
            lambda: self.projection.apply(events), self.retry, on_transient=count
        )

    async def _apply(
        self, decoded: Sequence[tuple[IncomingEvent, Record]]
    ) -> tuple[BatchOutcome, list[DeadLetter]]:
        if not decoded:
            return BatchOutcome(), []
        try:
            return await self._apply_once([event for event, _ in decoded]), []
        except PermanentStoreFailure as failure:
            if len(decoded) == 1:
                return BatchOutcome(), [self._refused(decoded[0][1], failure)]
            log.warning(
                "batch failed permanently; applying it in parts to set the failing records aside",
                extra={"failure": str(failure), "records": len(decoded)},
            )
        return await self._apply_in_halves(decoded)

    async def _apply_in_halves(
        self, decoded: Sequence[tuple[IncomingEvent, Record]]
    ) -> tuple[BatchOutcome, list[DeadLetter]]:
        """Apply the two halves of ``decoded`` one after the other, halving again a half that
        the database refuses for good: the records that fail on their own become dead letters,
        in as few transactions as isolating them takes, and every other record is applied as
        if one by one. Halves keep the delivery order, so each user's events stay in order."""
        outcome, failed = BatchOutcome(), []
        middle = len(decoded) // 2
        for half in (decoded[:middle], decoded[middle:]):
            try:
                outcome.merge(await self._apply_once([event for event, _ in half]))
            except PermanentStoreFailure as failure:
                if len(half) == 1:
                    failed.append(self._refused(half[0][1], failure))
                    continue
                half_outcome, half_failed = await self._apply_in_halves(half)
                outcome.merge(half_outcome)
                failed.extend(half_failed)
        return outcome, failed

    @staticmethod
    def _refused(record: Record, failure: PermanentStoreFailure) -> DeadLetter:
        return DeadLetter(record, PoisonCode.APPLY_FAILED, str(failure))

    def _count(self, outcome: BatchOutcome, dead_lettered: int) -> None:
        events = self.metrics.events
        events.labels("applied").inc(outcome.applied)
        events.labels("skipped_already_applied").inc(outcome.skipped)
        events.labels("dropped_erased_user").inc(outcome.dropped_for_erased_users)
        events.labels("dead_lettered").inc(dead_lettered)
        self.metrics.plays.inc(outcome.plays)
        for gap in outcome.gaps:
            self.metrics.sequence_gaps.inc()
            self.metrics.missing_events.inc(gap.missing)
            log.warning(
                "gap in a user's playback event sequence",
                extra={"user_id": gap.user_id, "expected": gap.expected, "received": gap.received},
            )
