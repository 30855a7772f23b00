"""Queries on users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backbeat.auth.store.tables import users


@dataclass(frozen=True, slots=True)
class UserRow:
    id: UUID
    email: str
    password_hash: str
    created_at: datetime

    def __repr__(self) -> str:
        return f"UserRow(id={self.id})"


def _row(row: object) -> UserRow:
    return UserRow(row.id, row.email, row.password_hash, row.created_at)  # type: ignore[attr-defined]


async def insert_user(
    session: AsyncSession, user_id: UUID, email: str, password_hash: str, now: datetime
) -> bool:
    """Add the user; False when the email is already taken."""
    inserted = await session.execute(
        insert(users)
        .values(
            id=user_id,
            email=email,
            password_hash=password_hash,
            created_at=now,
            password_changed_at=now,
        )
        .on_conflict_do_nothing(index_elements=[users.c.email])
        .returning(users.c.id)
    )
    return inserted.first() is not None


async def user_by_email(session: AsyncSession, email: str) -> UserRow | None:
    row = (await session.execute(select(users).where(users.c.email == email))).first()
    return None if row is None else _row(row)


async def user_by_id(session: AsyncSession, user_id: UUID, *, lock: bool = False) -> UserRow | None:
    query = select(users).where(users.c.id == user_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return None if row is None else _row(row)


async def replace_password_hash(
    session: AsyncSession, user_id: UUID, password_hash: str, *, changed_at: datetime | None
) -> None:
    """Store a new hash; ``changed_at`` is set for a new password, not for a rehash."""
    values: dict[str, object] = {"password_hash": password_hash}
    if changed_at is not None:
        values["password_changed_at"] = changed_at
    await session.execute(update(users).where(users.c.id == user_id).values(**values))


async def delete_user(session: AsyncSession, user_id: UUID) -> bool:
    """Delete the user; their sessions and refresh tokens go with them (ON DELETE CASCADE)."""
    deleted = await session.execute(
        delete(users).where(users.c.id == user_id).returning(users.c.id)
    )
    return deleted.first() is not None
