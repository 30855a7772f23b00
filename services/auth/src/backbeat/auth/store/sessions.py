"""Queries on sessions and their refresh tokens (a session is one refresh-token family)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backbeat.auth.domain.refresh import PresentedRefreshToken
from backbeat.auth.store.tables import refresh_tokens, sessions


@dataclass(frozen=True, slots=True)
class StoredRefreshToken:
    session_id: UUID
    user_id: UUID
    presented: PresentedRefreshToken


async def create_session(
    session: AsyncSession, session_id: UUID, user_id: UUID, now: datetime, expires_at: datetime
) -> None:
    await session.execute(
        sessions.insert().values(
            id=session_id,
            user_id=user_id,
            created_at=now,
            last_refreshed_at=now,
            expires_at=expires_at,
        )
    )


async def add_refresh_token(
    session: AsyncSession, digest: bytes, session_id: UUID, now: datetime, expires_at: datetime
) -> None:
    await session.execute(
        refresh_tokens.insert().values(
            token_digest=digest, session_id=session_id, issued_at=now, expires_at=expires_at
        )
    )


async def refresh_token_for_update(
    session: AsyncSession, digest: bytes
) -> StoredRefreshToken | None:
    """The token and its session, locked: two concurrent uses of one token are serialised,
    so exactly one rotates it and the other is seen as reuse."""
    row = (
        await session.execute(
            select(
                refresh_tokens.c.session_id,
                refresh_tokens.c.expires_at,
                refresh_tokens.c.rotated_at,
                sessions.c.user_id,
                sessions.c.expires_at.label("session_expires_at"),
                sessions.c.revoked_at,
            )
            .join(sessions, sessions.c.id == refresh_tokens.c.session_id)
            .where(refresh_tokens.c.token_digest == digest)
            .with_for_update()
        )
    ).first()
    if row is None:
        return None
    return StoredRefreshToken(
        row.session_id,
        row.user_id,
        PresentedRefreshToken(
            rotated_at=row.rotated_at,
            expires_at=row.expires_at,
            session_expires_at=row.session_expires_at,
            session_revoked_at=row.revoked_at,
        ),
    )


async def session_expiry(session: AsyncSession, session_id: UUID) -> datetime:
    expires_at: datetime = (
        await session.execute(select(sessions.c.expires_at).where(sessions.c.id == session_id))
    ).scalar_one()
    return expires_at


async def mark_rotated(session: AsyncSession, digest: bytes, now: datetime) -> None:
    await session.execute(
        update(refresh_tokens).where(refresh_tokens.c.token_digest == digest).values(rotated_at=now)
    )


async def touch_session(session: AsyncSession, session_id: UUID, now: datetime) -> None:
    await session.execute(
        update(sessions).where(sessions.c.id == session_id).values(last_refreshed_at=now)
    )


async def revoke_session(
    session: AsyncSession, session_id: UUID, now: datetime, reason: str
) -> None:
    await session.execute(
        update(sessions)
        .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )


async def revoke_user_sessions(
    session: AsyncSession, user_id: UUID, now: datetime, reason: str
) -> list[UUID]:
    """End every session of the user still open; the ids of those it ended."""
    result = await session.execute(
        update(sessions)
        .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .returning(sessions.c.id)
    )
    return [row.id for row in result.all()]


async def session_is_active(
    session: AsyncSession, session_id: UUID, user_id: UUID, now: datetime
) -> bool:
    row = (
        await session.execute(
            select(sessions.c.id).where(
                sessions.c.id == session_id,
                sessions.c.user_id == user_id,
                sessions.c.revoked_at.is_(None),
                sessions.c.expires_at > now,
            )
        )
    ).first()
    return row is not None
