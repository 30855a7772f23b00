"""The migrations build exactly the tables the code uses, and running them again is harmless."""

from __future__ import annotations

import asyncio

import pytest

from backbeat.auth.store.migrate import upgrade
from backbeat.auth.store.tables import metadata
from backbeat.runtime.migrations import schema_drift

pytestmark = pytest.mark.integration


async def test_migrating_again_changes_nothing_and_matches_the_tables(
    migrated: None, database_url: str
) -> None:
    await asyncio.to_thread(upgrade, database_url)
    assert await schema_drift(database_url, metadata) == []
