"""Password failure counters (sign-in and password change), one row per (scope, hashed
subject)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backbeat.auth.domain.throttle import FailureRecord, ThrottleScope
from backbeat.auth.store.tables import login_throttle


async def load_records(
    session: AsyncSession, subjects: Mapping[ThrottleScope, bytes]
) -> dict[ThrottleScope, FailureRecord]:
    wanted = [(scope.value, subject) for scope, subject in subjects.items()]
    rows = (
        await session.execute(
            select(login_throttle).where(
                tuple_(login_throttle.c.scope, login_throttle.c.subject).in_(wanted)
            )
        )
    ).all()
    return {
        ThrottleScope(row.scope): FailureRecord(
            row.failures, row.last_failure_at, row.last_success_at
        )
        for row in rows
    }


async def record_failure(
    session: AsyncSession,
    subjects: Mapping[ThrottleScope, bytes],
    now: datetime,
    window: timedelta,
) -> None:
    """Count one failure in every scope; a count whose last failure is older than the window
    starts again from one. Done in one upsert per row so concurrent failures all count."""
    for scope, subject in sorted(subjects.items()):
        statement = insert(login_throttle).values(
            scope=scope.value, subject=subject, failures=1, last_failure_at=now
        )
        stale = login_throttle.c.last_failure_at.is_(None) | (
            login_throttle.c.last_failure_at < now - window
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[login_throttle.c.scope, login_throttle.c.subject],
                set_={
                    "failures": case((stale, 1), else_=login_throttle.c.failures + 1),
                    "last_failure_at": now,
                },
            )
        )


async def record_success(session: AsyncSession, pair_subject: bytes, now: datetime) -> None:
    """The pair's count starts again, and its address is now known for the account."""
    await session.execute(
        insert(login_throttle)
        .values(
            scope=ThrottleScope.PAIR.value,
            subject=pair_subject,
            failures=0,
            last_failure_at=None,
            last_success_at=now,
        )
        .on_conflict_do_update(
            index_elements=[login_throttle.c.scope, login_throttle.c.subject],
            set_={"failures": 0, "last_failure_at": None, "last_success_at": now},
        )
    )


async def forget_before(session: AsyncSession, cutoff: datetime) -> None:
    """Drop counters with no failure since ``cutoff`` and no success to remember."""
    await session.execute(
        delete(login_throttle).where(
            login_throttle.c.last_failure_at < cutoff,
            login_throttle.c.last_success_at.is_(None)
            | (login_throttle.c.last_success_at < cutoff),
        )
    )
