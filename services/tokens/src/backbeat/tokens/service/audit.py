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

from backbeat.runtime.database import Database
from backbeat.tokens.store.tables import audit_log


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
                    await session.execute(audit_log.insert(), [row for row, _ in batch])
            except Exception as error:  # noqa: BLE001 - handed to every waiting caller
                for _, written in batch:
                    if not written.done():
                        written.set_exception(error)
                continue
            for _, written in batch:
                if not written.done():
                    written.set_result(None)
