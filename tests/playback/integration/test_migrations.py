"""The migrations build exactly the tables the code uses."""

from __future__ import annotations

import pytest

from backbeat.playback.store.tables import metadata
from backbeat.runtime.migrations import schema_drift

pytestmark = pytest.mark.integration


async def test_the_migrated_database_matches_the_tables(migrated_url: str) -> None:
    assert await schema_drift(migrated_url, metadata) == []
