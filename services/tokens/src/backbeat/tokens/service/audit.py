"""The audit trail of hand-outs and refreshes: who asked, for which user, when, and what came of
it; never the token.

Records from concurrent requests are written together, one INSERT per round (a group commit,
``StatementRounds``). Each caller still waits until its own record is durable before it
answers, so no hand-out is ever served unaudited.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from backbeat.runtime.database import Database
from backbeat.tokens.service.rounds import StatementRounds

# One INSERT per round, as arrays unnested server-side; records of an erased user are left
# out, so a hand-out refused in the moments after an account's erasure leaves no trace of it.
# Sent on the driver's own connection (asyncpg's numbered parameters): the round is the
# service's most frequent statement, and SQLAlchemy's execution path costs about as much CPU
# again as the driver's.
_INSERT_ROUND = """
    INSERT INTO audit_log (at, actor, user_id, action, outcome)
    SELECT r.at, r.actor, r.user_id, r.action, r.outcome
    FROM unnest(
        $1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[]
    ) AS r(at, actor, user_id, action, outcome)
    WHERE NOT EXISTS (SELECT 1 FROM erased_users e WHERE e.user_id = r.user_id)
"""

AuditRecord = tuple[datetime, str, str, str, str]
"""at, actor, user_id, action, outcome: the statement's parameter order."""


async def _insert_round(connection: AsyncConnection, records: list[AuditRecord]) -> Sequence[None]:
    driver = (await connection.get_raw_connection()).driver_connection
    if driver is None:
        raise RuntimeError("the pool gave a connection that is closed")
    await driver.execute(_INSERT_ROUND, *(list(column) for column in zip(*records, strict=True)))
    return [None] * len(records)


class AuditTrail:
    """Two rounds may be written at once: a record that arrives while a round waits for its
    commit to be flushed starts the next round at once instead of waiting for that flush to
    end first (PostgreSQL then flushes the two commits together or back to back)."""

    def __init__(
        self, database: Database, *, max_batch: int = 500, rounds_in_flight: int = 2
    ) -> None:
        self.rounds: StatementRounds[AuditRecord, None] = StatementRounds(
            database,
            _insert_round,
            name="audit-writer",
            max_batch=max_batch,
            rounds_in_flight=rounds_in_flight,
        )

    async def record(
        self, *, at: datetime, actor: str, user_id: str, action: str, outcome: str
    ) -> None:
        await self.rounds.submit((at, actor, user_id, action, outcome))
