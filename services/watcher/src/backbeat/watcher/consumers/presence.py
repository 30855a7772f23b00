"""Reads playback's presence topic into the board of viewed users, and asks for a poll at once
when someone opens a user's page.

Every instance reads every partition, outside any group: a user's presence records may be on
any partition relative to the connections this instance owns. It reads from the start of the
topic, which compaction and a short retention keep to about one record per user looked at
lately, so a restarted watcher knows at once who is being viewed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from backbeat.events.cloudevents import MalformedEvent
from backbeat.events.presence import presence_from_record
from backbeat.runtime.kafka import KAFKA_CLIENT_OPTIONS, topic_partitions
from backbeat.watcher.domain.attention import PresenceReport, ViewerBoard

log = logging.getLogger(__name__)


class PresenceTail:
    """Feeds ``board`` from ``topic`` until stopped; ``opened(user_id)`` is called when a user
    goes from not viewed to viewed."""

    def __init__(
        self,
        bootstrap: str,
        *,
        topic: str,
        board: ViewerBoard,
        wall_ms: Callable[[], int],
        opened: Callable[[str], None],
        client_id: str = "backbeat-watcher-presence",
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.board = board
        self._wall_ms = wall_ms
        self._opened = opened
        self._client_id = client_id
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # A new record is handed over as soon as it exists; an idle fetch returns after this.
            fetch_max_wait_ms=100,
            **KAFKA_CLIENT_OPTIONS,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        partitions = await topic_partitions(self.bootstrap, [self.topic], client_id=self._client_id)
        if not partitions:
            raise RuntimeError(f"topic {self.topic} has no partitions")
        await self.consumer.start()
        try:
            self.consumer.assign(partitions)
            await self.consumer.seek_to_beginning(*partitions)
        except BaseException:
            await self.consumer.stop()
            raise
        self._task = asyncio.create_task(self._run(), name="watcher-presence")

    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.consumer.stop()

    async def _run(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=1_000, max_records=1_000)
            now_ms = self._wall_ms()
            for records in batches.values():
                for record in records:
                    self._take(record, now_ms)
            # Entries of an instance that stopped refreshing them (it crashed) fade out here;
            # their users are simply polled at the unviewed intervals from their next poll on.
            self.board.expire(now_ms)

    def _take(self, record: ConsumerRecord[Any, Any], now_ms: int) -> None:
        try:
            presence = presence_from_record(record.key, record.value, record.headers)
        except MalformedEvent as exc:
            log.warning(
                "unreadable presence record skipped",
                extra={"reason": exc.reason, "partition": record.partition},
            )
            return
        report = PresenceReport(
            user_id=presence.user_id,
            instance_id=presence.instance_id,
            open_streams=presence.open_streams,
            expires_at_ms=int(presence.expires_at.timestamp() * 1000),
        )
        if self.board.report(report, now_ms):
            self._opened(presence.user_id)
