"""Each service's database is reachable by its own role only, enforced by PostgreSQL."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.integration


def asyncpg_dsn(sqlalchemy_url: str, database: str | None = None) -> str:
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    # SQLAlchemy's asyncpg dialect takes ``ssl=``; a libpq-style DSN says ``sslmode=``.
    query = dict(url.query)
    if "ssl" in query:
        query["sslmode"] = query.pop("ssl")
    url = url.set(query=query)
    if database:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


async def test_playback_role_cannot_read_the_tokens_database(
    database_urls: dict[str, str],
) -> None:
    tokens_db = make_url(database_urls["tokens"]).database
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="CONNECT"):
        await asyncpg.connect(asyncpg_dsn(database_urls["playback"], database=tokens_db))


async def test_each_role_connects_to_its_own_database(database_urls: dict[str, str]) -> None:
    for service, url in database_urls.items():
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            assert await conn.fetchval("SELECT current_user") == service
            # It owns its schema: it can create tables there (migrations need that).
            await conn.execute("CREATE TEMP TABLE t (x int)")
        finally:
            await conn.close()


async def test_no_service_role_is_a_superuser(database_urls: dict[str, str]) -> None:
    for url in database_urls.values():
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            assert (
                await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                is False
            )
        finally:
            await conn.close()
