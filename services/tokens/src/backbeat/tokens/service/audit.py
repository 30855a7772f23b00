"""The audit trail of hand-outs and refreshes: who asked, for which user, when, and what came of
it; never the token.

Records from concurrent requests are written together, one INSERT per round (a group commit):
while one round is being written, the next collects. Each caller still waits until its own
record is durable before it answers, so no hand-out is ever served unaudited.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import text

from backbeat.runtime.database import Database

# One INSERT per round, as arrays unnested server-side; records of an erased user are left
# out, so a hand-out refused in the moments after an account's erasure leaves no trace of it.
_INSERT_ROUND = text(
    """
    INSERT INTO audit_log (at, actor, user_id, action, outcome)
    SELECT r.at, r.actor, r.user_id, r.action, r.outcome
    FROM unnest(
        CAST(:at AS timestamptz[]), CAST(:actor AS text[]), CAST(:user_id AS text[]),
        CAST(:action AS text[]), CAST(:outcome AS text[])
    ) AS r(at, actor, user_id, action, outcome)
    WHERE NOT EXISTS (SELECT 1 FROM erased_users e WHERE e.user_id = r.user_id)
    """
)


class AuditTrail:
    def __init__(self, database: Database, *, max_batch: int = 500) -> None:
        self.database = database
        self.max_batch = max_batch
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(
        self, *, at: datetime, actor: str, user_id: str, action: str, outcome: str
    ) -> None:
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        row = {"at": at, "actor": actor, "user_id": user_id, "action": action, "outcome": outcome}
        self._pending.append((row, written))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_rounds(), name="audit-writer")
        # A caller that goes away cancels only its own wait: the record is the writer's now.
        await written

    async def _write_rounds(self) -> None:
        """Writes rounds until nothing is pending, over one connection while they follow
        each other: each round is then a single statement (autocommit: it is its own
        transaction) instead of a checkout, a ping, BEGIN, the INSERT and COMMIT, which
        under load each wait their turn in the event loop. A failure is handed to the
        round's callers; the next round starts over on a fresh connection."""
        while self._pending:
            batch = self._next_round()
            try:
                async with self.database.engine.connect() as connection:
                    await connection.execution_options(isolation_level="AUTOCOMMIT")
                    while True:
                        await connection.execute(_INSERT_ROUND, _columns(batch))
                        _settle(batch, None)
                        if not self._pending:
                            break
                        batch = self._next_round()
            except Exception as error:  # noqa: BLE001 - handed to every waiting caller
                _settle(batch, error)
            # Records that came while the connection was being returned are seen here: the
            # writer ends only with no await between its last look and its end, so a
            # caller never queues behind a writer that has stopped writing.

    def _next_round(self) -> list[tuple[dict[str, Any], asyncio.Future[None]]]:
        batch = self._pending[: self.max_batch]
        del self._pending[: self.max_batch]
        return batch


def _columns(batch: list[tuple[dict[str, Any], asyncio.Future[None]]]) -> dict[str, list[Any]]:
    return {
        column: [row[column] for row, _ in batch]
        for column in ("at", "actor", "user_id", "action", "outcome")
    }


def _settle(
    batch: list[tuple[dict[str, Any], asyncio.Future[None]]], error: Exception | None
) -> None:
    for _, written in batch:
        # Done already: its caller went away (cancelled), and nobody waits for it.
        if written.done():
            continue
        if error is None:
            written.set_result(None)
        else:
            written.set_exception(error)
