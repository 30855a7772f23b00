"""Queries on signing keys; private keys are sealed before they reach the table."""

from __future__ import annotations

from collections.abc import Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backbeat.auth.domain.keys import ALGORITHM, SigningKey
from backbeat.auth.store.sealing import KeySealer
from backbeat.auth.store.tables import signing_keys


async def lock_for_rotation(session: AsyncSession) -> None:
    """Serialise rotations across every auth instance until the transaction ends."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('backbeat-auth-keys'))"))


async def load_keys(session: AsyncSession, sealer: KeySealer) -> list[SigningKey]:
    rows = (await session.execute(select(signing_keys))).all()
    return [
        SigningKey(
            kid=row.kid,
            private_key=Ed25519PrivateKey.from_private_bytes(
                sealer.unseal(row.kid, row.sealed_private_key)
            ),
            created_at=row.created_at,
            activates_at=row.activates_at,
        )
        for row in rows
    ]


async def insert_key(session: AsyncSession, key: SigningKey, sealer: KeySealer) -> None:
    await session.execute(
        signing_keys.insert().values(
            kid=key.kid,
            algorithm=ALGORITHM,
            public_jwk=key.public_jwk(),
            sealed_private_key=sealer.seal(key.kid, key.private_bytes()),
            created_at=key.created_at,
            activates_at=key.activates_at,
        )
    )


async def delete_keys(session: AsyncSession, kids: Iterable[str]) -> None:
    kids = list(kids)
    if kids:
        await session.execute(delete(signing_keys).where(signing_keys.c.kid.in_(kids)))
