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
        # shield: a caller that goes away does not take its record with it.
        await asyncio.shield(written)

    async def _write_rounds(self) -> None:
        while self._pending:
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            try:
                async with self.database.session() as session:
                    await session.execute(
                        _INSERT_ROUND,
                        {
                            column: [row[column] for row, _ in batch]
                            for column in ("at", "actor", "user_id", "action", "outcome")
                        },
                    )
            except Exception as error:  # noqa: BLE001 - handed to every waiting caller
                for _, written in batch:
                    if not written.done():
                        written.set_exception(error)
                continue
            for _, written in batch:
                if not written.done():
                    written.set_result(None)
