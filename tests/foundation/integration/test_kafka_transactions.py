"""Kafka transactions on the pinned broker: committed records are read, aborted ones never."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer

from backbeat.runtime.kafka import TopicSpec, create_producer, ensure_topics

pytestmark = pytest.mark.integration


async def test_a_read_committed_consumer_sees_committed_records_and_not_aborted_ones(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"test.transactions.{unique}"
    await ensure_topics(kafka_bootstrap, [TopicSpec(topic, partitions=2)])
    producer = create_producer(
        kafka_bootstrap, client_id=f"tx-{unique}", transactional_id=f"tx-{unique}"
    )
    await producer.start()
    try:
        async with producer.transaction():
            for n in range(5):
                await producer.send(topic, key=b"user-1", value=f"committed-{n}".encode())
        with pytest.raises(RuntimeError):
            async with producer.transaction():
                await producer.send(topic, key=b"user-1", value=b"aborted")
                raise RuntimeError("the work the transaction covered failed")
        async with producer.transaction():
            await producer.send(topic, key=b"user-2", value=b"committed-after-abort")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        for _ in range(10):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                values += [r.value for r in records if r.value is not None]
            if len(values) >= 6:
                break
    finally:
        await consumer.stop()
    assert sorted(values) == sorted(
        [f"committed-{n}".encode() for n in range(5)] + [b"committed-after-abort"]
    )
