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

from sqlalchemy import text

from backbeat.runtime.database import Database

log = logging.getLogger(__name__)


# One batch: the oldest ``batch`` ids from ``floor`` on (the index on processed_at walks from
# there, not over the dead entries the batches before left behind), deleted by their row
# address; it answers how many went and the newest time among them, the next floor.
_PRUNE_BATCH = text(
    """
    WITH doomed AS (
        SELECT ctid FROM processed_events
        WHERE processed_at >= :floor AND processed_at < :older_than
        ORDER BY processed_at
        LIMIT :batch
        -- Another instance pruning at the same time takes other rows instead of waiting.
        FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM processed_events WHERE ctid = ANY(ARRAY(SELECT ctid FROM doomed))
        RETURNING processed_at
    )
    SELECT count(*), max(processed_at) FROM gone
    """
)
_BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


async def prune_processed_events(
    database: Database, older_than: datetime, *, batch: int = 10_000
) -> int:
    """Delete the ids applied before ``older_than``, ``batch`` rows per transaction (short
    transactions, so appliers are never held up); returns how many were deleted."""
    deleted, floor = 0, _BEGINNING
    while True:
        async with database.session() as session:
            row = (
                await session.execute(
                    _PRUNE_BATCH, {"floor": floor, "older_than": older_than, "batch": batch}
                )
            ).one()
        count, newest = int(row[0]), row[1]
        deleted += count
        if count < batch:
            return deleted
        floor = newest


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
