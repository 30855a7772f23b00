"""The migrations build exactly the tables the code uses, and running them again is harmless."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from backbeat.auth.store.migrate import upgrade
from backbeat.auth.store.tables import metadata

pytestmark = pytest.mark.integration


async def test_migrating_again_changes_nothing_and_matches_the_tables(
    migrated: None, database_url: str
) -> None:
    await asyncio.to_thread(upgrade, database_url)
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), metadata
                )
            )
    finally:
        await engine.dispose()
    assert differences == []
