"""The transactional outbox: committed events reach Kafka even when the relay dies; rolled-back
ones never do."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import MetaData

from backbeat.events.cloudevents import read_attributes
from backbeat.events.users import UserDeleted, user_deleted_event
from backbeat.runtime.database import Database
from backbeat.runtime.kafka import TopicSpec, create_producer, ensure_topics
from backbeat.runtime.outbox import OutboxRelay, enqueue, outbox_table

pytestmark = pytest.mark.integration


class CrashingProducer:
    """Sends ``survive`` records, then dies the way a killed process's producer would."""

    def __init__(self, producer, survive: int) -> None:
        self.producer, self.left = producer, survive

    async def send(self, *args, **kwargs):
        if self.left == 0:
            raise ConnectionError("process killed")
        self.left -= 1
        return await self.producer.send(*args, **kwargs)


async def read_ids(bootstrap: str, topic: str, expected: int) -> list[str]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    ids: list[str] = []
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                ids += [read_attributes(r.headers)["id"] for r in records]
            if len(ids) >= expected:
                # Drain a little longer so a duplicate or a stray record would be seen.
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    ids += [read_attributes(r.headers)["id"] for r in records]
                break
    finally:
        await consumer.stop()
    return ids


async def test_committed_events_survive_a_relay_killed_mid_batch_and_rolled_back_ones_never_leave(
    kafka_bootstrap: str, database_urls: dict[str, str], unique: str
) -> None:
    topic = f"test.outbox.{unique}"
    await ensure_topics(kafka_bootstrap, [TopicSpec(topic, partitions=3)])
    db = Database(database_urls["playback"])
    table = outbox_table(MetaData(), name=f"outbox_test_{unique}")
    async with db.engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)
    producer = create_producer(kafka_bootstrap, client_id=f"outbox-{unique}")
    await producer.start()
    try:
        events = [
            user_deleted_event(UserDeleted(user_id=f"user-{n}", deleted_at=datetime.now(UTC)))
            for n in range(20)
        ]
        async with db.session() as session:
            for event in events:
                await enqueue(session, table, topic, event, event.subject)

        rolled_back = user_deleted_event(UserDeleted(user_id="ghost", deleted_at=datetime.now(UTC)))
        with pytest.raises(RuntimeError):
            async with db.session() as session:
                await enqueue(session, table, topic, rolled_back, rolled_back.subject)
                raise RuntimeError("the change that the event reports failed")

        crashing = OutboxRelay(db, table, CrashingProducer(producer, survive=7), batch_size=10)  # type: ignore[arg-type]
        with pytest.raises(ConnectionError):
            await crashing.publish_pending()

        relay = OutboxRelay(db, table, producer, batch_size=10)
        while await relay.publish_pending():
            pass

        ids = await read_ids(kafka_bootstrap, topic, expected=len(events))
        assert set(ids) == {e.id for e in events}
        assert rolled_back.id not in ids
        # The killed relay may have sent part of its batch before dying; those repeat with the
        # same event id, which consumers deduplicate. Nothing else repeats.
        assert len(ids) - len(set(ids)) <= 7
    finally:
        await producer.stop()
        async with db.engine.begin() as conn:
            await conn.run_sync(table.metadata.drop_all)
        await db.dispose()
