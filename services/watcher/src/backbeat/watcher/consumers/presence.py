"""Reads playback's presence topic into the board of viewed users, and asks for a poll at once
when someone opens a user's page.

Every instance reads every partition, outside any group: a user's presence records may be on
any partition relative to the connections this instance owns. It reads from the start of the
topic, which compaction and a short retention keep to about one record per user looked at
lately, so a restarted watcher knows at once who is being viewed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiokafka import ConsumerRecord

from backbeat.events.cloudevents import MalformedEvent, log_unreadable
from backbeat.events.presence import presence_from_record
from backbeat.runtime.tail import Batch, TopicTail
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
        self.topic = topic
        self.board = board
        self._wall_ms = wall_ms
        self._opened = opened
        self._tail = TopicTail(
            bootstrap,
            [topic],
            handle=self._take_batch,
            start_at="beginning",
            name="watcher-presence",
            client_id=client_id,
        )

    async def start(self) -> None:
        await self._tail.start()

    def running(self) -> bool:
        return self._tail.running()

    async def stop(self) -> None:
        await self._tail.stop()

    def _take_batch(self, batch: Batch) -> None:
        now_ms = self._wall_ms()
        for records in batch.values():
            for record in records:
                self._take(record, now_ms)
        # Entries of an instance that stopped refreshing them (it crashed) fade out here;
        # their users are simply polled at the unviewed intervals from their next poll on.
        self.board.expire(now_ms)

    def _take(self, record: ConsumerRecord[Any, Any], now_ms: int) -> None:
        try:
            presence = presence_from_record(record.key, record.value, record.headers)
        except MalformedEvent as exc:
            log_unreadable(log, "unreadable presence record skipped", exc, record)
            return
        report = PresenceReport(
            user_id=presence.user_id,
            instance_id=presence.instance_id,
            open_streams=presence.open_streams,
            expires_at_ms=int(presence.expires_at.timestamp() * 1000),
        )
        if self.board.report(report, now_ms):
            self._opened(presence.user_id)
