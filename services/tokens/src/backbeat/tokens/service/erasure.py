"""A deleted account's erasure: its Spotify credentials, connect flows and audit trail go, a
tombstone stays so that nothing of the user is ever stored again, and the watcher is told
(a tombstone on the connections topic, through the outbox) to stop polling.

Erasing and storing credentials take the same per-user lock, so a connect flow finishing at
the moment of the deletion either stores first and is erased, or comes second and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backbeat.events import topics
from backbeat.runtime.database import Database
from backbeat.runtime.outbox import enqueue
from backbeat.runtime.problems import ProblemError
from backbeat.tokens.store.tables import (
    audit_log,
    connect_states,
    credentials,
    erased_users,
    outbox,
)


class AccountErased(ProblemError):
    """The user's account was deleted: nothing of theirs is stored any more. Answered as a
    403 problem where it reaches a route."""

    def __init__(self) -> None:
        super().__init__(403, "account_deleted", "The account was deleted")


@dataclass(frozen=True, slots=True)
class Erasure:
    user_id: str
    credentials_deleted: bool
    audit_rows_deleted: int


async def lock_user(session: AsyncSession, user_id: str) -> None:
    """The per-user lock erasure and every store of credentials hold until they commit."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"backbeat-tokens-user:{user_id}"},
    )


async def refuse_erased(session: AsyncSession, user_id: str) -> None:
    """Take the user's lock and raise :class:`AccountErased` if the user was erased; the
    caller's writes in the same transaction then cannot race an erasure."""
    await lock_user(session, user_id)
    erased = (
        await session.execute(
            select(erased_users.c.user_id).where(erased_users.c.user_id == user_id)
        )
    ).first()
    if erased is not None:
        raise AccountErased()


async def erase_user(
    database: Database,
    user_id: str,
    *,
    now: datetime,
    topic: str = topics.SPOTIFY_CONNECTIONS,
) -> Erasure:
    """Erase what this service holds of ``user_id`` and publish the connection's tombstone.
    Idempotent: a redelivered deletion erases nothing more and publishes the tombstone again."""
    async with database.session() as session:
        await lock_user(session, user_id)
        await session.execute(
            insert(erased_users).values(user_id=user_id, erased_at=now).on_conflict_do_nothing()
        )
        # Credentials first: a refresh in flight holds their row, and its audit row is
        # committed by the time this delete gets the row, so the next delete sees it.
        removed = await session.execute(delete(credentials).where(credentials.c.user_id == user_id))
        await session.execute(delete(connect_states).where(connect_states.c.user_id == user_id))
        audited = await session.execute(delete(audit_log).where(audit_log.c.user_id == user_id))
        # The compacted topic then forgets the user's key altogether.
        await enqueue(session, outbox, topic, None, user_id)
    return Erasure(
        user_id,
        credentials_deleted=bool(getattr(removed, "rowcount", 0)),
        audit_rows_deleted=getattr(audited, "rowcount", 0) or 0,
    )
