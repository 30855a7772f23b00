"""The playback service against the real PostgreSQL and Kafka: a migrated test database with
empty tables per test, topics and consumer groups of the test's own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from backbeat.playback.consumers.runtime import topic_specs
from backbeat.playback.settings import PlaybackSettings
from backbeat.playback.store.migrate import upgrade
from backbeat.runtime.database import Database
from backbeat.runtime.kafka import ensure_topics
from tests.playback.integration.service import ISSUER

TABLES = ("plays", "processed_events", "user_playback", "erased_users")


@pytest.fixture(scope="session")
async def migrated_url(database_urls: dict[str, str]) -> str:
    url = database_urls["playback"]
    # Twice: the second run must find nothing to do.
    await asyncio.to_thread(upgrade, url)
    await asyncio.to_thread(upgrade, url)
    return url


@pytest.fixture
async def database(migrated_url: str) -> AsyncIterator[Database]:
    db = Database(migrated_url, pool_size=5)
    async with db.session() as session:
        await session.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def settings(migrated_url: str, kafka_bootstrap: str, unique: str) -> PlaybackSettings:
    """Settings naming topics and groups of this test's own; the topics exist."""
    settings = PlaybackSettings(
        database_url=migrated_url,
        kafka_bootstrap=kafka_bootstrap,
        events_topic=f"test.playback.events.{unique}",
        dead_letter_topic=f"test.playback.events.dlq.{unique}",
        users_topic=f"test.auth.users.{unique}",
        revocations_topic=f"test.auth.revocations.{unique}",
        revocations_partitions=1,
        presence_topic=f"test.playback.presence.{unique}",
        consumer_group=f"test-playback-{unique}",
        erasure_consumer_group=f"test-playback-erasure-{unique}",
        events_partitions=3,
        dead_letter_partitions=1,
        users_partitions=1,
        batch_max_records=200,
        batch_timeout_ms=50,
        transient_retries=1,
        retry_backoff_initial_s=0.05,
        retry_backoff_max_s=0.2,
    )
    await ensure_topics(kafka_bootstrap, topic_specs(settings))
    return settings


@pytest.fixture
def api_settings(settings: PlaybackSettings) -> PlaybackSettings:
    """The test's settings for a service that accepts the test forge's user tokens and only
    serves HTTP (tests that need the consumers or the live tail turn them on)."""
    return settings.model_copy(
        update={"auth_issuer": ISSUER, "consume": False, "live_stream": False}
    )
