"""Tokens integration fixtures: the migrated test database, emptied before each test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

import backbeat.tokens.store.migrate as migrate
from backbeat.runtime.database import Database
from backbeat.runtime.migrations import upgrade


@pytest.fixture(scope="session")
async def tokens_url(database_urls: dict[str, str]) -> str:
    url = database_urls["tokens"]
    await asyncio.to_thread(upgrade, Path(migrate.__file__).with_name("migrations"), url)
    return url


@pytest.fixture
async def tokens_db(tokens_url: str) -> AsyncIterator[Database]:
    db = Database(tokens_url)
    async with db.session() as session:
        await session.execute(text("TRUNCATE spotify_credentials, audit_log, outbox"))
    yield db
    await db.dispose()
