"""Playback tells the watcher who has a live stream open: the first stream of a user opening
publishes a presence record at once, it is refreshed while the stream stays open, and the
last one closing (or the instance stopping) says so."""

from __future__ import annotations

import asyncio

import pytest

from backbeat.events.presence import PRESENCE_PARTITIONS, StreamPresence, presence_from_record
from backbeat.playback.live.hub import LiveHub
from backbeat.playback.live.presence import PresencePublisher
from backbeat.runtime.kafka import TopicSpec, ensure_topics
from backbeat.runtime.testing import values_of_key

pytestmark = pytest.mark.integration


async def presences(bootstrap: str, topic: str, user_id: str) -> list[StreamPresence]:
    values = await values_of_key(bootstrap, topic, user_id)
    return [StreamPresence.model_validate_json(v) for v in values if v is not None]


async def eventually(check: object, timeout_s: float = 20.0) -> None:
    assert callable(check)
    async with asyncio.timeout(timeout_s):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def test_streams_opening_and_closing_are_published_and_refreshed_in_between(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"test.playback.presence.{unique}"
    await ensure_topics(kafka_bootstrap, [TopicSpec(topic, partitions=PRESENCE_PARTITIONS)])
    presence = PresencePublisher(
        kafka_bootstrap, topic=topic, ttl_s=3.0, refresh_s=0.5, instance_id="pb-1"
    )
    hub = LiveHub(on_viewers=presence.changed)
    await presence.start()
    try:
        first, _ = hub.subscribe("u1", None)

        async def opened(streams: int) -> bool:
            counts = [p.open_streams for p in await presences(kafka_bootstrap, topic, "u1")]
            return streams in counts

        await eventually(lambda: opened(1))
        second, _ = hub.subscribe("u1", None)  # a second tab
        await eventually(lambda: opened(2))

        async def refreshed() -> bool:
            seen = await presences(kafka_bootstrap, topic, "u1")
            return len(seen) >= 4 and all(p.open_streams == 2 for p in seen[-2:])

        await eventually(refreshed)
        seen = await presences(kafka_bootstrap, topic, "u1")
        assert all(p.instance_id == "pb-1" for p in seen)
        assert all(p.expires_at > p.published_at for p in seen)
        first.close()
        second.close()

        async def closed() -> bool:
            seen = await presences(kafka_bootstrap, topic, "u1")
            return bool(seen) and seen[-1].open_streams == 0

        await eventually(closed)
        hub.subscribe("u2", None)
    finally:
        await presence.stop()
    # Stopping says the streams of this instance are gone, without waiting for expiry.
    (*_, last) = await presences(kafka_bootstrap, topic, "u2")
    assert last.open_streams == 0
    for value in await values_of_key(kafka_bootstrap, topic, "u2"):
        assert value is not None


async def test_a_presence_record_is_a_cloudevent_with_the_user_as_key(
    kafka_bootstrap: str, unique: str
) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    topic = f"test.playback.presence.{unique}"
    await ensure_topics(kafka_bootstrap, [TopicSpec(topic, partitions=1)])
    presence = PresencePublisher(kafka_bootstrap, topic=topic, ttl_s=30.0, refresh_s=10.0)
    await presence.start()
    try:
        presence.changed("u1", 1)
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None)
        await consumer.start()
        try:
            partition = TopicPartition(topic, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            record = await asyncio.wait_for(consumer.getone(), 20)
        finally:
            await consumer.stop()
    finally:
        await presence.stop()
    assert record.key == b"u1"
    data = presence_from_record(record.key, record.value, record.headers)
    assert (data.user_id, data.open_streams) == ("u1", 1)
