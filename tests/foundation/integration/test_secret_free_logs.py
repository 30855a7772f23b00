"""A database error keeps people's secrets out of the service's log: the statement's
parameters are hidden, and a password hash the error itself quotes is redacted."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from backbeat.auth.store.migrate import upgrade as upgrade_auth
from backbeat.runtime.database import Database
from backbeat.runtime.testing import service_process

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple 42"


async def test_a_database_error_shows_the_statement_but_not_its_parameters(
    database_urls: dict[str, str],
) -> None:
    database = Database(database_urls["auth"])
    try:
        async with database.session() as session:
            with pytest.raises(DBAPIError) as raised:
                await session.execute(text("SELECT :secret, 1 / 0"), {"secret": PASSWORD})
    finally:
        await database.dispose()
    message = str(raised.value)
    assert "division by zero" in message and "SELECT" in message
    assert PASSWORD not in message


async def test_a_database_error_on_sign_up_leaves_no_password_or_hash_in_the_log(
    database_urls: dict[str, str], kafka_bootstrap: str, unique: str
) -> None:
    """The sign-up's INSERT fails (here a check the test adds, refusing one address): the
    auth process logs the error with neither the password nor its argon2 hash, which is both
    a parameter of the statement and part of the failing row PostgreSQL quotes back."""
    url = database_urls["auth"]
    await asyncio.to_thread(upgrade_auth, url)
    email = f"log-probe-{unique}@example.test"
    check = f"log_probe_{unique}"
    engine = create_async_engine(url)
    # DDL takes no bound parameters; both names are the test's own.
    refuse = f"ALTER TABLE users ADD CONSTRAINT {check} CHECK (email <> '{email}') NOT VALID"
    async with engine.begin() as conn:
        await conn.execute(text(refuse))
    auth = service_process(
        "auth",
        {
            "DATABASE_URL": url,
            "USERS_TOPIC": f"test.auth.users.{unique}",
            "REVOCATIONS_TOPIC": f"test.auth.revocations.{unique}",
        },
        env={"BACKBEAT_ENVIRONMENT": "test", "BACKBEAT_KAFKA_BOOTSTRAP": kafka_bootstrap},
        name=f"auth-log-probe-{uuid.uuid4().hex[:8]}",
    )
    try:
        await asyncio.to_thread(auth.start, 60)
        response = await asyncio.to_thread(
            httpx.post,
            f"{auth.url}/api/auth/signup",
            json={"email": email, "password": PASSWORD},
            timeout=30,
        )
    finally:
        await asyncio.to_thread(auth.stop)
        async with engine.begin() as conn:
            await conn.execute(text(f"ALTER TABLE users DROP CONSTRAINT IF EXISTS {check}"))
        await engine.dispose()

    assert response.status_code == 500
    assert PASSWORD not in response.text and "$argon2" not in response.text
    log = auth.log_path.read_text()
    assert check in log, "the error was not logged at all"
    assert PASSWORD not in log
    assert "$argon2" not in log
