"""Queries on registered service clients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backbeat.auth.domain.service_clients import ServiceClient
from backbeat.auth.store.tables import service_clients


@dataclass(frozen=True, slots=True)
class StoredClient:
    client: ServiceClient
    secret_digest: bytes
    description: str
    created_at: datetime

    def __repr__(self) -> str:
        return f"StoredClient(client={self.client!r})"


def _stored(row: object) -> StoredClient:
    r = row  # rows are attribute-accessed; typed loosely by SQLAlchemy
    return StoredClient(
        ServiceClient(
            client_id=r.client_id,  # type: ignore[attr-defined]
            audiences=frozenset(r.audiences),  # type: ignore[attr-defined]
            scopes=frozenset(r.scopes),  # type: ignore[attr-defined]
            disabled=r.disabled,  # type: ignore[attr-defined]
        ),
        r.secret_digest,  # type: ignore[attr-defined]
        r.description,  # type: ignore[attr-defined]
        r.created_at,  # type: ignore[attr-defined]
    )


async def client_by_id(session: AsyncSession, client_id: str) -> StoredClient | None:
    row = (
        await session.execute(
            select(service_clients).where(service_clients.c.client_id == client_id)
        )
    ).first()
    return None if row is None else _stored(row)


async def list_clients(session: AsyncSession) -> list[StoredClient]:
    rows = (
        await session.execute(select(service_clients).order_by(service_clients.c.client_id))
    ).all()
    return [_stored(row) for row in rows]


async def insert_client(
    session: AsyncSession,
    client: ServiceClient,
    secret_digest: bytes,
    description: str,
    now: datetime,
) -> bool:
    """Register the client; False when the id is taken."""
    inserted = await session.execute(
        insert(service_clients)
        .values(
            client_id=client.client_id,
            secret_digest=secret_digest,
            audiences=sorted(client.audiences),
            scopes=sorted(client.scopes),
            description=description,
            disabled=client.disabled,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[service_clients.c.client_id])
        .returning(service_clients.c.client_id)
    )
    return inserted.first() is not None


async def replace_secret(session: AsyncSession, client_id: str, secret_digest: bytes) -> bool:
    result = await session.execute(
        update(service_clients)
        .where(service_clients.c.client_id == client_id)
        .values(secret_digest=secret_digest)
        .returning(service_clients.c.client_id)
    )
    return result.first() is not None


async def delete_client(session: AsyncSession, client_id: str) -> bool:
    result = await session.execute(
        delete(service_clients)
        .where(service_clients.c.client_id == client_id)
        .returning(service_clients.c.client_id)
    )
    return result.first() is not None
