"""Reads ``playback.events`` in the consumer group and applies it batch by batch, fetching and
decoding the next batch while the one before it is being applied.

Batches are applied one at a time and in order: batch N+1 is fetched and decoded while N's
transaction runs, but its own transaction begins only after N's has committed and N's
offsets were committed to Kafka. A batch's offsets are committed only after its transaction
committed (and its dead letters were acknowledged), so the group's offsets never pass what
the database holds: delivery is at least once, and the projection's dedup makes the effect
exactly once.

When N's apply fails (transient failures outlasted the retries) or N+1's decode raises, the
batches not yet committed are dropped and every partition they touched is sought back to its
first uncommitted record, so those records are delivered again. A rebalance waits for the
batch being applied and commits it before the partitions go; a batch fetched before the
rebalance is dropped, and the partitions' owner reads it again from the committed offsets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import ConsumerStoppedError, KafkaError

from backbeat.playback.consumers.playback_events import Record
from backbeat.runtime.kafka import KAFKA_CLIENT_OPTIONS

log = logging.getLogger(__name__)

# After a Kafka error in a fetch, the loop waits this long before fetching again.
_FETCH_ERROR_PAUSE_S = 1.0


Decoded = TypeVar("Decoded")


class BatchHandler(Protocol[Decoded]):
    """What the loop drives (``PlaybackEventsConsumer``): a decode step without I/O (that
    yields to the event loop now and then), and an apply step that returns once the batch
    is durable."""

    async def decode(self, records: Sequence[Record]) -> Decoded: ...

    async def apply(self, batch: Decoded) -> None: ...


@dataclass(frozen=True, slots=True)
class FetchedBatch:
    """One ``getmany`` worth of records, with the offsets that delimit it per partition."""

    records: list[Record]
    first: dict[TopicPartition, int]
    """The first offset of each partition in the batch: where to seek back to."""
    next: dict[TopicPartition, int]
    """The offset after the last record of each partition: what to commit once applied."""
    generation: int
    """The group assignment it was fetched in (see ``BatchPipeline.generation``)."""

    @classmethod
    def of(cls, fetched: Mapping[TopicPartition, list[Record]], generation: int) -> FetchedBatch:
        records: list[Record] = []
        first: dict[TopicPartition, int] = {}
        after: dict[TopicPartition, int] = {}
        for tp, partition_records in fetched.items():
            if not partition_records:
                continue
            records.extend(partition_records)
            first[tp] = partition_records[0].offset
            after[tp] = partition_records[-1].offset + 1
        return cls(records, first, after, generation)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, pipeline: BatchPipeline[Any]) -> None:
        self._pipeline = pipeline

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        if revoked:  # also called, with none, before the first assignment
            await self._pipeline.revoked()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("playback event partitions assigned", extra={"partitions": len(assigned)})


class BatchPipeline(Generic[Decoded]):
    """The consumer loop of ``playback.events``; see the module docstring."""

    def __init__(
        self,
        bootstrap: str,
        handler: BatchHandler[Decoded],
        *,
        topic: str,
        group_id: str,
        max_records: int,
        batch_timeout_ms: int,
        client_id: str = "backbeat-playback",
        graceful_timeout_s: float = 15.0,
    ) -> None:
        self.topic = topic
        self.handler = handler
        self.max_records = max_records
        self.batch_timeout_ms = batch_timeout_ms
        self.graceful_timeout_s = graceful_timeout_s
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group_id,
            client_id=client_id,
            # Offsets are committed by the loop, each batch's after its transaction.
            enable_auto_commit=False,
            # A new group starts at the beginning: no event is left out of the projection.
            auto_offset_reset="earliest",
            # The watcher publishes in transactions: an aborted one's events never happened.
            isolation_level="read_committed",
            **KAFKA_CLIENT_OPTIONS,
        )
        self.generation = 0
        """Counts revocations: a batch fetched in an earlier generation is never applied."""
        self._applying: tuple[asyncio.Task[None], FetchedBatch] | None = None
        self._settling = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self.consumer.subscribe([self.topic], listener=_Rebalance(self))
        self._loop = asyncio.create_task(self._run(), name="playback-events-pipeline")

    async def stop(self) -> None:
        """Finish the batch being applied (its offsets committed), then leave the group; a
        batch fetched but not yet applied is left to the partitions' next owner."""
        self._stopping.set()
        try:
            if self._loop is not None:
                loop = self._loop
                done, _ = await asyncio.wait({loop}, timeout=self.graceful_timeout_s)
                if not done:
                    log.warning("playback events batch still applying at shutdown; abandoned")
                    loop.cancel()
                    if self._applying is not None:
                        self._applying[0].cancel()
                    await asyncio.wait({loop})
                if not loop.cancelled() and (error := loop.exception()) is not None:
                    # The loop ended early (its offsets uncommitted); leaving the group is
                    # what remains to do, and the records go to the partitions' next owner.
                    log.error("playback events loop had ended", exc_info=error)
        finally:
            await self.consumer.stop()

    async def revoked(self) -> None:
        """Before partitions go: commit the batch being applied, drop the one fetched."""
        self.generation += 1
        await self._settle()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._turn()
            except ConsumerStoppedError:
                break
            except Exception:  # the loop outlives any one batch; its records come again
                log.exception("playback events loop failed; continuing")
                await self._pause(_FETCH_ERROR_PAUSE_S)
        await self._settle()

    async def _turn(self) -> None:
        try:
            fetched = await self.consumer.getmany(
                timeout_ms=self.batch_timeout_ms, max_records=self.max_records
            )
        except KafkaError as exc:
            log.warning("fetching playback events failed", extra={"error": repr(exc)})
            await self._pause(_FETCH_ERROR_PAUSE_S)
            return
        batch = FetchedBatch.of(fetched, self.generation)
        if not batch.records:
            # Idle: the batch in hand needs no successor to have its offsets committed.
            if (failed := await self._settle()) is not None:
                self._rewind(failed)
            return
        try:
            decoded = await self.handler.decode(batch.records)
        except Exception:
            log.exception("decoding a batch of playback events failed; it will come again")
            failed = await self._settle()
            self._rewind(*([failed] if failed else []), batch)
            return
        failed = await self._settle()
        if failed is not None:
            self._rewind(failed, batch)
            return
        if batch.generation != self.generation:
            # Fetched before a rebalance: the partitions' owner reads it from the committed
            # offsets (aiokafka positions every newly assigned partition there).
            return
        task = asyncio.create_task(self.handler.apply(decoded), name="playback-events-apply")
        self._applying = (task, batch)
        # A turn for it to begin (and send its first statement) before this loop fetches
        # and decodes the next batch: a fetch from records already buffered does not yield.
        await asyncio.sleep(0)

    async def _settle(self) -> FetchedBatch | None:
        """Wait for the batch being applied and commit its offsets. Returns the batch if its
        apply failed (its records are then to be delivered again)."""
        async with self._settling:
            if self._applying is None:
                return None
            task, batch = self._applying
            # Waited for without being cancelled with the waiter: if the waiter is (a
            # rebalance cut short), the batch stays in hand, and no other batch begins
            # before it has finished.
            await asyncio.wait({task})
            self._applying = None
            error = None if task.cancelled() else task.exception()
            if error is not None and not isinstance(error, Exception):
                raise error  # the process is going down: nothing more is committed
            if task.cancelled() or error is not None:
                log.warning(
                    "a batch of playback events was not applied; it will come again",
                    exc_info=error,
                    extra={"records": len(batch.records)},
                )
                return batch
            try:
                await self.consumer.commit(batch.next)
            except KafkaError as exc:
                # The database has the batch; redelivered, it is skipped as already applied.
                log.warning("committing playback event offsets failed", extra={"error": repr(exc)})
            return None

    def _rewind(self, *batches: FetchedBatch) -> None:
        """Seek each partition the batches touched back to its first record in them (the
        earliest batch first), where the partition is still ours."""
        assigned = self.consumer.assignment()
        positions: dict[TopicPartition, int] = {}
        for batch in batches:
            if batch.generation != self.generation:
                continue  # its partitions were revoked since: the committed offsets rule
            for tp, offset in batch.first.items():
                positions.setdefault(tp, offset)
        for tp, offset in positions.items():
            if tp in assigned:
                self.consumer.seek(tp, offset)

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass
