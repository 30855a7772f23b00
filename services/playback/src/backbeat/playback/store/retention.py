"""Keeps the applied event ids from growing without end.

An id only has to be remembered while Kafka can still deliver its event again: a record older
than the events topic's retention is gone from the log, so its id can go too. The per-user
sequence still rejects an old event that somehow came back, so forgetting an id never lets a
play count twice; the retention setting keeps a margin over the topic's retention anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from backbeat.playback.store.tables import processed_events
from backbeat.runtime.database import Database

log = logging.getLogger(__name__)


async def prune_processed_events(
    database: Database, older_than: datetime, *, batch: int = 10_000
) -> int:
    """Delete the ids applied before ``older_than``, ``batch`` rows per transaction (short
    transactions, so appliers are never held up); returns how many were deleted."""
    stale = (
        select(processed_events.c.event_id)
        .where(processed_events.c.processed_at < older_than)
        .limit(batch)
        # Another instance pruning at the same time takes other rows instead of waiting.
        .with_for_update(skip_locked=True)
    )
    deleted = 0
    while True:
        async with database.session() as session:
            result = await session.execute(
                delete(processed_events).where(processed_events.c.event_id.in_(stale))
            )
        count = int(getattr(result, "rowcount", 0) or 0)
        deleted += count
        if count < batch:
            return deleted


class ProcessedEventsPruner:
    """Prunes applied event ids older than ``retention`` every ``interval``, from ``start``."""

    def __init__(self, database: Database, *, retention: timedelta, interval: timedelta) -> None:
        self.database = database
        self.retention = retention
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="playback-prune-event-ids")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run(self) -> None:
        while True:
            try:
                deleted = await prune_processed_events(
                    self.database, datetime.now(UTC) - self.retention
                )
                if deleted:
                    log.info("pruned applied event ids", extra={"deleted": deleted})
            except Exception:  # a failed round is retried at the next one
                log.exception("pruning applied event ids failed; trying again later")
            await asyncio.sleep(self.interval.total_seconds())
