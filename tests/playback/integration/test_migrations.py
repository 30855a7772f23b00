"""The migrations build exactly the tables the code uses."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from backbeat.playback.store.tables import metadata

pytestmark = pytest.mark.integration


async def test_the_migrated_database_matches_the_tables(migrated_url: str) -> None:
    engine = create_async_engine(migrated_url)
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
