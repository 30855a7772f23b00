"""Alembic environment: runs auth's migrations on an async engine, one runner at a time."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from backbeat.auth.store.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    # Two instances starting together must not both apply the same migration.
    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('backbeat-auth-migrate'))"))
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: set BACKBEAT_AUTH_DATABASE_URL")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
