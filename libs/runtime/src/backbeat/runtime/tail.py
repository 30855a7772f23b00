"""A reader of whole topics without a consumer group: every instance reads every partition,
from the beginning (to rebuild a view a compacted topic holds) or from the end (to hear only
what happens from now on), and hands each batch to its owner until stopped.

What such readers share (the assignment, the start position, the read loop, the task and
its end) lives here; what they do with a record stays with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from backbeat.runtime.kafka import KAFKA_CLIENT_OPTIONS, topic_partitions

log = logging.getLogger(__name__)

Batch = dict[TopicPartition, list[ConsumerRecord[Any, Any]]]


class TopicTail:
    """Reads every partition of ``topics`` from ``start_at`` and calls ``handle`` with each
    batch, in a task of its own named ``name``, until :meth:`stop`.

    ``start`` returns once the start positions are fixed: with ``start_at="end"``, a record
    published after it returned reaches ``handle``. ``read_committed`` skips what aborted
    transactions wrote. A failure of the task is logged (``handle`` must not raise for one
    unreadable record: skip it there) and shows in :meth:`running`.
    """

    def __init__(
        self,
        bootstrap: str,
        topics: Sequence[str],
        *,
        handle: Callable[[Batch], None],
        start_at: Literal["beginning", "end"],
        name: str,
        client_id: str,
        read_committed: bool = False,
        fetch_max_wait_ms: int = 100,
        max_records: int = 1_000,
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.name = name
        self._handle = handle
        self._start_at = start_at
        self._client_id = client_id
        self._read_committed = read_committed
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._max_records = max_records
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        partitions = await topic_partitions(self.bootstrap, self.topics, client_id=self._client_id)
        if not any(partition.topic == self.topics[0] for partition in partitions):
            raise RuntimeError(f"topic {self.topics[0]} has no partitions")
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            client_id=self._client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if self._start_at == "beginning" else "latest",
            isolation_level="read_committed" if self._read_committed else "read_uncommitted",
            # An idle fetch returns after this long; a record is returned as soon as it exists.
            fetch_max_wait_ms=self._fetch_max_wait_ms,
            **KAFKA_CLIENT_OPTIONS,
        )
        await consumer.start()
        try:
            consumer.assign(partitions)
            if self._start_at == "beginning":
                await consumer.seek_to_beginning(*partitions)
            else:
                await consumer.seek_to_end(*partitions)
                # seek_to_end is lazy: asking for each position resolves it now, not at the
                # first fetch, which could come after records a caller waits for.
                for partition in partitions:
                    await consumer.position(partition)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._task = asyncio.create_task(self._read(consumer), name=self.name)
        self._task.add_done_callback(self._ended)

    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=1_000, max_records=self._max_records)
            self._handle(batch)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error(f"{self.name} stopped reading", exc_info=error)
