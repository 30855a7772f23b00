"""The migrations build exactly the tables the code uses."""

from __future__ import annotations

import pytest

from backbeat.runtime.migrations import schema_drift
from backbeat.tokens.store.tables import metadata

pytestmark = pytest.mark.integration


async def test_the_migrated_database_matches_the_tables(tokens_url: str) -> None:
    assert await schema_drift(tokens_url, metadata) == []
