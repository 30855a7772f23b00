"""Running the playback consumers in a test, publishing to and reading back from Kafka."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient

from backbeat.events.cloudevents import to_kafka
from backbeat.events.playback import playback_event
from backbeat.playback.consumers.metrics import ConsumerMetrics
from backbeat.playback.consumers.playback_events import Projection
from backbeat.playback.consumers.runtime import PlaybackConsumers, topic_specs
from backbeat.playback.domain.projection import IncomingEvent
from backbeat.playback.settings import PlaybackSettings
from backbeat.runtime.database import Database
from backbeat.runtime.kafka import create_producer, ensure_topics


async def publish(bootstrap: str, topic: str, events: Iterable[IncomingEvent]) -> None:
    producer = create_producer(bootstrap, client_id="test-playback-publisher")
    await producer.start()
    try:
        futures = []
        for event in events:
            key, value, headers = to_kafka(playback_event(event.data, event_id=event.event_id))
            futures.append(await producer.send(topic, key=key, value=value, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def publish_raw(
    bootstrap: str, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
) -> None:
    producer = create_producer(bootstrap, client_id="test-playback-publisher")
    await producer.start()
    try:
        await (await producer.send(topic, key=key, value=value, headers=headers))
    finally:
        await producer.stop()


@asynccontextmanager
async def running_consumers(
    settings: PlaybackSettings, database: Database, projection: Projection | None = None
) -> AsyncIterator[PlaybackConsumers]:
    await ensure_topics(settings.kafka_bootstrap, topic_specs(settings))
    consumers = PlaybackConsumers(settings, database, ConsumerMetrics(), projection=projection)
    await consumers.start()
    try:
        yield consumers
    finally:
        await consumers.stop()


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s} s")
        await asyncio.sleep(0.1)


async def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}
    finally:
        await admin.close()


async def all_committed(settings: PlaybackSettings, published: int) -> bool:
    """Whether the group committed past all ``published`` records of its (fresh) topic: the
    offsets of a topic written without transactions count its records."""
    committed = await committed_offsets(
        settings.kafka_bootstrap, settings.consumer_group, settings.events_topic
    )
    return sum(committed.values()) >= published


async def read_topic(
    bootstrap: str, topic: str, expected: int, timeout_s: float = 20.0
) -> list[ConsumerRecord[Any, Any]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[ConsumerRecord[Any, Any]] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(records) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for partition_records in batch.values():
                records.extend(partition_records)
        return records
    finally:
        await consumer.stop()
