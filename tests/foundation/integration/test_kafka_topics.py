"""Topics the runtime creates are usable when ``ensure_topics`` returns: every partition
has a leader, so the first produce or group join meets no NotLeaderForPartition."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from backbeat.runtime.kafka import TopicSpec, create_producer, ensure_topics, start_producer

pytestmark = pytest.mark.integration


async def test_created_topics_have_a_leader_for_every_partition_on_return(
    kafka_bootstrap: str, unique: str
) -> None:
    specs = [
        TopicSpec(f"test.runtime.leaders.{unique}", partitions=12),
        TopicSpec(f"test.runtime.leaders.compacted.{unique}", partitions=6, compacted=True),
    ]
    await ensure_topics(kafka_bootstrap, specs)

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([s.name for s in specs])
    finally:
        await admin.close()
    leaders = {
        t["topic"]: sorted(p["partition"] for p in t["partitions"] if p["leader"] >= 0)
        for t in described
    }
    assert leaders == {s.name: list(range(s.partitions)) for s in specs}

    producer = create_producer(kafka_bootstrap, client_id=f"test-leaders-{unique}")
    await producer.start()
    try:
        for partition in range(12):
            sent = await producer.send_and_wait(specs[0].name, b"x", partition=partition)
            assert sent.partition == partition
    finally:
        await producer.stop()


async def test_a_consumer_reading_a_just_created_topic_from_the_start_meets_no_error(
    kafka_bootstrap: str, unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Without the wait, 15 such topics gave 145 NotLeaderForPartition error lines; waiting for
    # leaders in the metadata alone still gave 12.
    caplog.set_level(logging.WARNING, logger="aiokafka")
    for n in range(8):
        spec = TopicSpec(f"test.runtime.fresh.{n}.{unique}", partitions=6)
        await ensure_topics(kafka_bootstrap, [spec])
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap)
        await consumer.start()
        try:
            partitions = [TopicPartition(spec.name, p) for p in range(spec.partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            assert [await consumer.position(p) for p in partitions] == [0] * spec.partitions
        finally:
            await consumer.stop()
    assert [r.getMessage() for r in caplog.records if r.name.startswith("aiokafka")] == []


async def test_existing_topics_are_left_as_they_are(kafka_bootstrap: str, unique: str) -> None:
    name = f"test.runtime.existing.{unique}"
    await ensure_topics(kafka_bootstrap, [TopicSpec(name, partitions=2)])
    await ensure_topics(kafka_bootstrap, [TopicSpec(name, partitions=5)])
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([name])
    finally:
        await admin.close()
    assert len(described["partitions"]) == 2


async def test_a_producer_writing_to_several_topics_delivers_to_each_whatever_it_knew_first(
    kafka_bootstrap: str, unique: str
) -> None:
    # The producer learns the first topic from a refresh of every topic's metadata (as after
    # a fresh broker's first answers), the second only when it sends to it. Tracking just the
    # topics it was asked about, that send's refresh forgot the first topic's leaders while a
    # record for it still lingered, and the record was never sent.
    known = TopicSpec(f"test.runtime.known.{unique}", partitions=3)
    new = TopicSpec(f"test.runtime.new.{unique}", partitions=3)
    await ensure_topics(kafka_bootstrap, [known])
    producer = create_producer(kafka_bootstrap, client_id=f"test-topics-{unique}", linger_ms=500)
    await start_producer(producer, [known.name, new.name])
    try:
        await producer.client.force_metadata_update()
        await ensure_topics(kafka_bootstrap, [new])
        first = await producer.send(known.name, b"first", key=b"k")
        second = await producer.send(new.name, b"second", key=b"k")
        delivered = await asyncio.wait_for(asyncio.gather(first, second), timeout=15)
    finally:
        await producer.stop()
    assert [m.topic for m in delivered] == [known.name, new.name]
