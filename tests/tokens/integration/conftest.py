"""Tokens integration fixtures: the migrated test database, emptied before each test."""

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


@pytest.fixture
async def tokens_db(tokens_url: str) -> AsyncIterator[Database]:
    db = Database(tokens_url)
    async with db.session() as session:
        await session.execute(
            text("TRUNCATE spotify_credentials, connect_states, audit_log, outbox")
        )
    yield db
    await db.dispose()
