"""Erases everything the playback service holds about a user, when the user is deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backbeat.playback.store.tables import erased_users, plays, processed_events, user_playback


@dataclass(frozen=True, slots=True)
class Erasure:
    user_id: str
    plays_deleted: int


async def erase_user(session: AsyncSession, user_id: str, *, at: datetime | None = None) -> Erasure:
    """Delete the user's now playing, history and applied event ids, and remember the user
    as erased so late events of theirs are dropped. Idempotent."""
    at = at or datetime.now(UTC)
    conn = await session.connection()
    # Take the user's row lock first (making the row if there is none), the same lock an
    # applier of the user's events holds: an applier that got it first finishes and its plays
    # are deleted below; one that comes after finds the user marked erased and drops the events.
    await conn.execute(
        insert(user_playback)
        .values(user_id=user_id, last_sequence=0, is_playing=False, updated_at=at)
        .on_conflict_do_nothing()
    )
    await conn.execute(
        select(user_playback.c.user_id).where(user_playback.c.user_id == user_id).with_for_update()
    )
    await conn.execute(
        insert(erased_users).values(user_id=user_id, erased_at=at).on_conflict_do_nothing()
    )
    deleted = await conn.execute(delete(plays).where(plays.c.user_id == user_id))
    await conn.execute(delete(processed_events).where(processed_events.c.user_id == user_id))
    await conn.execute(delete(user_playback).where(user_playback.c.user_id == user_id))
    return Erasure(user_id, plays_deleted=deleted.rowcount or 0)
