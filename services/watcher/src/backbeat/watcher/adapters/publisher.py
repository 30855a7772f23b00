"""Publishes each user's events to playback.events together with the user's new state to
the changelog, in one Kafka transaction per batch, so the two never diverge.

One transactional producer per owned partition of the connections topic, with a
transactional id derived from that partition. Opening it fences any earlier producer with
the same id (a previous owner that is presumed dead but still running) and aborts its open
transaction, so a takeover neither duplicates what that owner committed nor waits for its
transaction to time out. Polls that produce no event still write the user's state (so a
takeover resumes from the last observation, not the last publication); a batch of such
state alone waits up to the checkpoint interval for company. If a transaction fails, the
same batch (same event ids and sequence numbers) is sent again in a new one;
read_committed consumers never see the aborted attempt. A fenced producer means the
partition has moved: its pending batch is dropped, since the new owner continues from the
last committed state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, ProducerFenced

from backbeat.events.cloudevents import to_kafka
from backbeat.events.playback import PlaybackEvent, playback_event
from backbeat.runtime.kafka import create_producer, start_producer
from backbeat.watcher.domain.timeline import Observation, WatchState
from backbeat.watcher.store.state_store import encode_state
from backbeat.watcher.workers.metrics import WatcherMetrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Pending:
    user_id: str
    events: list[PlaybackEvent]
    state: WatchState


class PartitionFenced(Exception):
    """Another instance now owns the partition."""


class PartitionPublisher:
    """Commits one partition's events and states in order, batching what accumulates."""

    def __init__(
        self,
        partition: int,
        producer: AIOKafkaProducer,
        *,
        events_topic: str,
        state_topic: str,
        commit_interval_s: float,
        metrics: WatcherMetrics,
        on_fenced: Callable[[int], None],
        checkpoint_interval_s: float = 1.0,
    ) -> None:
        self.partition = partition
        self._checkpoint_interval_s = checkpoint_interval_s
        # Set while the pending batch holds events (not only states).
        self._events_pending = asyncio.Event()
        self._on_fenced = on_fenced
        self._producer = producer
        self._events_topic = events_topic
        self._state_topic = state_topic
        self._commit_interval_s = commit_interval_s
        self._metrics = metrics
        self._pending: list[_Pending] = []
        self._has_pending = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.fenced = False
        self._task = asyncio.create_task(self._run(), name=f"watcher-publish-{partition}")

    def enqueue(self, user_id: str, observation: Observation) -> None:
        if self.fenced:
            return
        events = [playback_event(data) for data in observation.events]
        self._pending.append(_Pending(user_id, events, observation.state))
        self._idle.clear()
        if events:
            self._events_pending.set()
        self._has_pending.set()

    async def flush(self) -> None:
        """Wait until everything enqueued so far is committed (or the partition was lost)."""
        await self._idle.wait()

    async def close(self, flush_timeout_s: float = 15.0) -> bool:
        """Commit what is pending (for the next owner to continue from), then stop. True when
        everything enqueued was committed."""
        committed = True
        if not self._task.done():
            try:
                async with asyncio.timeout(flush_timeout_s):
                    await self.flush()
            except TimeoutError:
                committed = False
                log.error("closing with uncommitted events", extra={"partition": self.partition})
        committed = committed and not self.fenced and not self._pending
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, PartitionFenced):
            await self._task
        await self._producer.stop()
        return committed

    async def _run(self) -> None:
        try:
            while True:
                await self._has_pending.wait()
                self._has_pending.clear()
                if not self._events_pending.is_set():
                    # States alone: one transaction per checkpoint interval carries them all.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._checkpoint_interval_s):
                            await self._events_pending.wait()
                self._events_pending.clear()
                batch, self._pending = self._pending, []
                await self._commit(batch)
                if not self._pending:
                    self._idle.set()
                await asyncio.sleep(self._commit_interval_s)
        except PartitionFenced:
            self.fenced = True
            self._pending.clear()
            self._idle.set()
            self._on_fenced(self.partition)

    async def _commit(self, batch: list[_Pending]) -> None:
        # One state record per user: the newest, which accounts for all of its events.
        latest: dict[str, WatchState] = {item.user_id: item.state for item in batch}
        attempt = 0
        while True:
            try:
                async with self._producer.transaction():
                    for item in batch:
                        for event in item.events:
                            key, value, headers = to_kafka(event)
                            await self._producer.send(
                                self._events_topic, value, key=key, headers=headers
                            )
                    for user_id, state in latest.items():
                        await self._producer.send(
                            self._state_topic,
                            encode_state(state),
                            key=user_id.encode(),
                            partition=self.partition,
                        )
                self._metrics.events_published.inc(sum(len(i.events) for i in batch))
                return
            except ProducerFenced as exc:
                log.warning("partition taken over", extra={"partition": self.partition})
                raise PartitionFenced(str(self.partition)) from exc
            except KafkaError as exc:
                attempt += 1
                self._metrics.commit_failures.inc()
                log.warning(
                    "commit failed, retrying the same batch",
                    extra={"partition": self.partition, "error": repr(exc), "attempt": attempt},
                )
                await asyncio.sleep(min(5.0, 0.2 * 2**attempt))


class Publisher:
    """The partition publishers of this instance, opened on assignment, closed on revocation."""

    def __init__(
        self,
        bootstrap: str,
        *,
        events_topic: str,
        state_topic: str,
        transactional_id_prefix: str,
        commit_interval_s: float,
        metrics: WatcherMetrics,
        on_fenced: Callable[[int], None],
        checkpoint_interval_s: float = 1.0,
    ) -> None:
        self._on_fenced = on_fenced
        self._checkpoint_interval_s = checkpoint_interval_s
        self._bootstrap = bootstrap
        self._events_topic = events_topic
        self._state_topic = state_topic
        self._prefix = transactional_id_prefix
        self._commit_interval_s = commit_interval_s
        self._metrics = metrics
        self._partitions: dict[int, PartitionPublisher] = {}

    def transactional_id(self, partition: int) -> str:
        # Per partition and changelog, not per instance: whoever owns the partition next
        # uses the same id, which is what fences the previous owner.
        return f"{self._prefix}.{self._state_topic}.{partition}"

    async def open(self, partition: int) -> None:
        if partition in self._partitions:
            return
        producer = create_producer(
            self._bootstrap,
            client_id=f"backbeat-watcher-{partition}",
            transactional_id=self.transactional_id(partition),
        )
        try:
            await start_producer(producer, [self._events_topic, self._state_topic])
        except BaseException:
            # Cancelled by a revocation mid-open, or failed: nothing is left running.
            await producer.stop()
            raise
        self._partitions[partition] = PartitionPublisher(
            partition,
            producer,
            events_topic=self._events_topic,
            state_topic=self._state_topic,
            commit_interval_s=self._commit_interval_s,
            metrics=self._metrics,
            on_fenced=self._on_fenced,
            checkpoint_interval_s=self._checkpoint_interval_s,
        )

    async def close(self, partition: int) -> bool:
        """Commit the partition's pending batch and let it go; True when all it was given is
        committed."""
        publisher = self._partitions.pop(partition, None)
        return False if publisher is None else await publisher.close()

    async def close_all(self) -> None:
        await asyncio.gather(*(self.close(p) for p in list(self._partitions)))

    def owns(self, partition: int) -> bool:
        publisher = self._partitions.get(partition)
        return publisher is not None and not publisher.fenced

    def publish(self, partition: int, user_id: str, observation: Observation) -> bool:
        """Queue ``observation``; False when the partition is not (or no longer) ours."""
        publisher = self._partitions.get(partition)
        if publisher is None or publisher.fenced:
            return False
        publisher.enqueue(user_id, observation)
        return True

    async def flush(self) -> None:
        await asyncio.gather(*(p.flush() for p in list(self._partitions.values())))
