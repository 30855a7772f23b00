"""Alembic, shared: each service keeps its own migration scripts and calls these two helpers.

A service's ``store/migrations/env.py`` is ``run_env(metadata, "<service>")``; its
``store/migrate.py`` calls ``upgrade(...)``. Migrations run on an async engine, one runner at
a time (a PostgreSQL advisory lock), so instances starting together do not race.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def alembic_config(migrations: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    # ConfigParser treats % as interpolation; a password may contain one.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(migrations: Path, database_url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``. Blocking: call it off the event loop."""
    command.upgrade(alembic_config(migrations, database_url), revision)


def downgrade(migrations: Path, database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(migrations, database_url), revision)


async def schema_drift(database_url: str, metadata: MetaData) -> list[Any]:
    """How the database differs from ``metadata`` (Alembic's comparison, column types
    included): empty when the migrations built exactly the tables the code uses."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                )
            )
    finally:
        await engine.dispose()


def run_env(metadata: MetaData, service: str) -> None:
    """The body of a service's Alembic ``env.py``."""
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection: Connection) -> None:
        lock = f"backbeat-{service}-migrate"
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:lock))"), {"lock": lock})
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run_online() -> None:
        if not url:
            raise RuntimeError(f"no database URL: set BACKBEAT_{service.upper()}_DATABASE_URL")
        # Data migrations move people's data: errors show the SQL without its parameters.
        engine = create_async_engine(url, hide_parameters=True)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(run)
        finally:
            await engine.dispose()

    asyncio.run(run_online())


def command_line(service: str, migrations: Path, database_url: Callable[[], str]) -> None:
    """``python -m backbeat.<service>.store.migrate [revision]``."""
    parser = argparse.ArgumentParser(
        prog=f"python -m backbeat.{service}.store.migrate",
        description=f"Bring {service}'s database to a revision (default: the newest). Safe to "
        "run again and from several processes at once.",
    )
    parser.add_argument("revision", nargs="?", default="head")
    args = parser.parse_args()
    upgrade(migrations, database_url(), args.revision)
    print(f"{service} database migrated to {args.revision}")


@dataclass(frozen=True)
class ServiceMigrations:
    """One service's migrations: where they live and where its command line finds the
    database (its settings, read only when the command runs)."""

    service: str
    directory: Path
    database_url: Callable[[], str]

    def upgrade(self, database_url: str, revision: str = "head") -> None:
        """Apply migrations up to ``revision``. Blocking: call it off the event loop."""
        upgrade(self.directory, database_url, revision)

    def command_line(self) -> None:
        command_line(self.service, self.directory, self.database_url)
