"""Auth against the real PostgreSQL test database: migrated once, emptied before each test."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from backbeat.auth.app import create_app
from backbeat.auth.settings import AuthSettings
from backbeat.auth.store.migrate import upgrade
from tests.auth.integration.edge import EDGE_SECRET

TEST_DATABASE_URL = os.environ.get(
    "BACKBEAT_TEST_AUTH_DATABASE_URL",
    "postgresql+asyncpg://auth:backbeat-dev-auth@127.0.0.1:5432/auth_test?ssl=disable",
)
TABLES = "users, sessions, refresh_tokens, signing_keys, service_clients, login_throttle, outbox"


def auth_test_settings(**overrides: Any) -> AuthSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": TEST_DATABASE_URL,
        "database_pool_size": 5,
        "issuer": "http://auth.test",
        "outbox_relay_enabled": False,
        "edge_secret": EDGE_SECRET,
        "key_rotation_interval_s": 0,
        # Never the topic a local stack on the same broker reads.
        "users_topic": f"test.auth.users.{uuid.uuid4().hex}",
        "revocations_topic": f"test.auth.revocations.{uuid.uuid4().hex}",
    }
    values.update(overrides)
    return AuthSettings(**values)


@pytest.fixture
def make_settings() -> Callable[..., AuthSettings]:
    return auth_test_settings


@pytest.fixture
def database_url() -> str:
    return TEST_DATABASE_URL


@pytest.fixture(scope="session")
async def migrated() -> None:
    await asyncio.to_thread(upgrade, TEST_DATABASE_URL)


@pytest.fixture
async def clean_db(migrated: None) -> None:
    engine = create_async_engine(TEST_DATABASE_URL)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


class RunningApp:
    def __init__(self, app: FastAPI, http: httpx.AsyncClient) -> None:
        self.app = app
        self.http = http


@pytest.fixture
async def start_app(clean_db: None) -> AsyncIterator[Callable[..., Any]]:
    """Starts auth apps (lifespan included) with test settings; stops them after the test."""
    stack: list[tuple[Any, httpx.AsyncClient]] = []

    async def start(**overrides: Any) -> RunningApp:
        app = create_app(auth_test_settings(**overrides))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
        http = httpx.AsyncClient(transport=transport, base_url="http://auth.test")
        stack.append((lifespan, http))
        return RunningApp(app, http)

    yield start
    for lifespan, http in reversed(stack):
        await http.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def auth(start_app: Callable[..., Any]) -> RunningApp:
    running: RunningApp = await start_app()
    return running
