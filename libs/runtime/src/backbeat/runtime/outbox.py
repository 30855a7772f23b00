"""Transactional outbox: an event is written in the same transaction as the change it reports,
and a relay publishes it afterwards. A crash between commit and publish only delays the event;
a crash between publish and marking it sent repeats it with the same event id, which consumers
deduplicate.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from backbeat.events.cloudevents import CloudEvent, to_kafka
from backbeat.runtime.database import Database
from backbeat.runtime.kafka import TopicSpec, create_producer, ensure_topics, start_producer
from backbeat.runtime.outages import KAFKA, dependency_failure
from backbeat.runtime.retry import retry_until_it_works

log = logging.getLogger(__name__)


def outbox_table(metadata: MetaData, name: str = "outbox") -> Table:
    """The outbox table, added to a service's own metadata (and so to its migrations)."""
    return Table(
        name,
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("topic", String(255), nullable=False),
        Column("key", LargeBinary, nullable=True),
        Column("value", LargeBinary, nullable=True),
        Column("headers", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Index(f"ix_{name}_unpublished", "id", postgresql_where="published_at IS NULL"),
    )


async def enqueue(
    session: AsyncSession, table: Table, topic: str, event: CloudEvent[Any] | None, key: str
) -> None:
    """Add an event (or, with ``event=None``, a tombstone for ``key``) to the outbox in the
    caller's transaction."""
    headers: list[tuple[str, bytes]]
    value: bytes | None
    if event is None:
        record_key, value, headers = key.encode(), None, []
    else:
        record_key, value, headers = to_kafka(event)
    await session.execute(
        table.insert().values(
            topic=topic,
            key=record_key,
            value=value,
            headers=[[name, raw.decode()] for name, raw in headers],
            created_at=datetime.now(UTC),
        )
    )


class OutboxRelay:
    """Publishes outbox rows in id order and marks them sent.

    Rows are claimed with ``FOR UPDATE SKIP LOCKED``, so several instances of a service can
    run relays without publishing a row twice in the normal case.
    """

    def __init__(
        self,
        database: Database,
        table: Table,
        producer: AIOKafkaProducer,
        *,
        batch_size: int = 200,
        idle_interval_s: float = 0.2,
    ) -> None:
        self.database = database
        self.table = table
        self.producer = producer
        self.batch_size = batch_size
        self.idle_interval_s = idle_interval_s
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """Tell the relay that rows were just committed, so it does not wait for its interval."""
        self._wake.set()

    async def publish_pending(self) -> int:
        """Publish one batch; returns how many rows were sent."""
        t = self.table
        async with self.database.session() as session:
            rows = (
                await session.execute(
                    select(t.c.id, t.c.topic, t.c.key, t.c.value, t.c.headers)
                    .where(t.c.published_at.is_(None))
                    .order_by(t.c.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            futures = [
                await self.producer.send(
                    row.topic,
                    value=row.value,
                    key=row.key,
                    headers=[(name, value.encode()) for name, value in row.headers],
                )
                for row in rows
            ]
            # Marked sent only once every record of the batch is acknowledged by the broker.
            await asyncio.gather(*futures)
            await session.execute(
                update(t)
                .where(t.c.id.in_([row.id for row in rows]))
                .values(published_at=datetime.now(UTC))
            )
            return len(rows)

    async def run(self) -> None:
        """Relay until cancelled; errors are logged and retried with backoff."""
        backoff = self.idle_interval_s
        while True:
            try:
                sent = await self.publish_pending()
                backoff = self.idle_interval_s
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying", extra={"retry_in_s": backoff})
                sent = 0
                backoff = min(backoff * 2, 10.0)
            if sent == 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=backoff)
                except TimeoutError:
                    pass


class OutboxPublisher:
    """A service's outbox relay for its whole life: creates the producer and the topics, and
    waits for Kafka when it is not there. Meanwhile events queue up in the outbox; the
    service keeps serving requests."""

    def __init__(
        self,
        database: Database,
        table: Table,
        *,
        bootstrap: str,
        client_id: str,
        topics: list[TopicSpec],
        max_backoff_s: float = 30.0,
    ) -> None:
        self.database = database
        self.table = table
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.topics = topics
        self.max_backoff_s = max_backoff_s
        self._relay: OutboxRelay | None = None

    def notify(self) -> None:
        """Call after committing outbox rows, so they leave without waiting for the interval."""
        if self._relay is not None:
            self._relay.notify()

    async def run(self) -> None:
        def waiting(exc: BaseException, wait_s: float) -> None:
            log.warning(
                "kafka unavailable; the outbox waits",
                extra={
                    "error": type(exc).__name__,
                    "retry_in_s": wait_s,
                    # Held and counted while Kafka is known to be down.
                    **dependency_failure(KAFKA, exc),
                },
            )

        while True:
            async for attempt in retry_until_it_works(
                (KafkaError, OSError), first_s=1.0, max_s=self.max_backoff_s, on_retry=waiting
            ):
                with attempt:
                    producer = await self._started_producer()
            try:
                self._relay = OutboxRelay(self.database, self.table, producer)
                await self._relay.run()
            finally:
                self._relay = None
                await producer.stop()

    async def _started_producer(self) -> AIOKafkaProducer:
        producer = create_producer(self.bootstrap, client_id=self.client_id)
        try:
            await ensure_topics(self.bootstrap, self.topics)
            await start_producer(producer, [spec.name for spec in self.topics])
        except BaseException:
            await producer.stop()
            raise
        return producer
