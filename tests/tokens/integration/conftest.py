"""Tokens integration fixtures: the migrated test database, emptied around each test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from backbeat.runtime.database import Database
from backbeat.tokens.store.migrate import upgrade


@pytest.fixture(scope="session")
async def tokens_url(database_urls: dict[str, str]) -> str:
    url = database_urls["tokens"]
    await asyncio.to_thread(upgrade, url)
    return url


TABLES = "spotify_credentials, connect_states, audit_log, outbox, erased_users"


@pytest.fixture
async def tokens_db(tokens_url: str) -> AsyncIterator[Database]:
    """Emptied before the test and after it: an outbox row a test leaves for a topic of its
    own would otherwise wait at the head of the queue of the next tokens process started on
    this database (the end-to-end stack's)."""
    db = Database(tokens_url)
    async with db.session() as session:
        await session.execute(text(f"TRUNCATE {TABLES}"))
    yield db
    async with db.session() as session:
        await session.execute(text(f"TRUNCATE {TABLES}"))
    await db.dispose()
