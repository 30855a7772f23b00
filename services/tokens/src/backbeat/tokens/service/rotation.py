"""Online key rotation: reseal every credentials row under the active key, in small batches.

Service instances keep working throughout: they open rows under any key in the ring and seal
new writes under the active one. Each batch locks its rows with SKIP LOCKED, so a row being
refreshed is simply picked up by a later pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update

from backbeat.runtime.database import Database
from backbeat.tokens.domain.vault import CredentialField, KeyRing, SealedSecret, reseal
from backbeat.tokens.store.tables import connect_states, credentials

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RotationProgress:
    resealed: int
    remaining: int


async def rows_not_under_active_key(database: Database, keys: KeyRing) -> int:
    async with database.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(credentials).where(credentials.c.key_id != keys.active)
        )
    return int(count or 0)


async def reseal_batch(database: Database, keys: KeyRing, batch_size: int = 200) -> int:
    """Reseal up to ``batch_size`` rows; returns how many were moved to the active key."""
    c = credentials
    async with database.session() as session:
        rows = (
            await session.execute(
                select(c.c.user_id, c.c.key_id, c.c.access_token, c.c.refresh_token)
                .where(c.c.key_id != keys.active)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for row in rows:
            access = reseal(
                keys,
                row.user_id,
                CredentialField.ACCESS_TOKEN,
                SealedSecret(row.key_id, bytes(row.access_token)),
            )
            refresh = reseal(
                keys,
                row.user_id,
                CredentialField.REFRESH_TOKEN,
                SealedSecret(row.key_id, bytes(row.refresh_token)),
            )
            await session.execute(
                update(c)
                .where(c.c.user_id == row.user_id, c.c.key_id == row.key_id)
                .values(key_id=keys.active, access_token=access.blob, refresh_token=refresh.blob)
            )
        # Connect flows in progress are short-lived; ones under an old key are resealed too,
        # so the old key can be retired right after the rotation. Expired ones just go.
        await session.execute(
            delete(connect_states).where(connect_states.c.expires_at < func.now())
        )
        states = (
            await session.execute(
                select(connect_states)
                .where(connect_states.c.key_id != keys.active)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for state in states:
            verifier = reseal(
                keys,
                state.user_id,
                CredentialField.CODE_VERIFIER,
                SealedSecret(state.key_id, bytes(state.code_verifier)),
            )
            await session.execute(
                update(connect_states)
                .where(connect_states.c.state_hash == state.state_hash)
                .values(key_id=keys.active, code_verifier=verifier.blob)
            )
    return len(rows)


async def rotate(database: Database, keys: KeyRing, batch_size: int = 200) -> RotationProgress:
    """Reseal until no row is under an old key; logs progress per batch."""
    total = 0
    while True:
        moved = await reseal_batch(database, keys, batch_size)
        total += moved
        remaining = await rows_not_under_active_key(database, keys)
        log.info("key rotation progress", extra={"resealed": total, "remaining": remaining})
        if remaining == 0 or moved == 0:
            return RotationProgress(resealed=total, remaining=remaining)
