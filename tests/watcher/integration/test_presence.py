"""Playback's presence records, read by the watcher's presence tail from real Kafka: a user
is viewed while some instance vouches for an open stream, and the viewers of an instance that
crashed (it stops refreshing its records) fade out when the records expire."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from backbeat.events.cloudevents import to_kafka
from backbeat.events.presence import (
    PRESENCE_PARTITIONS,
    PRESENCE_TOPIC_CONFIG,
    StreamPresence,
    stream_presence_event,
)
from backbeat.runtime.kafka import TopicSpec, create_producer, ensure_topics
from backbeat.watcher.consumers.presence import PresenceTail
from backbeat.watcher.domain.attention import ViewerBoard

pytestmark = pytest.mark.integration


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


async def wait_for(condition: object, timeout_s: float = 20.0) -> None:
    assert callable(condition)
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_the_viewers_of_a_crashed_playback_instance_fade_out(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"test.playback.presence.{unique}"
    await ensure_topics(
        kafka_bootstrap,
        [
            TopicSpec(
                topic, partitions=PRESENCE_PARTITIONS, compacted=True, config=PRESENCE_TOPIC_CONFIG
            )
        ],
    )
    producer = create_producer(kafka_bootstrap, client_id="test-presence", linger_ms=0)
    await producer.start()

    async def say(user_id: str, instance: str, streams: int, ttl_s: float) -> None:
        now = datetime.now(UTC)
        presence = StreamPresence(
            user_id=user_id,
            instance_id=instance,
            open_streams=streams,
            published_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )
        key, value, headers = to_kafka(stream_presence_event(presence))
        await producer.send_and_wait(topic, key=key, value=value, headers=headers)

    board = ViewerBoard()
    opened: list[str] = []
    tail = PresenceTail(
        kafka_bootstrap, topic=topic, board=board, wall_ms=wall_ms, opened=opened.append
    )
    await tail.start()
    try:
        await say("on-crashed", "crashed", 1, ttl_s=2.0)
        await say("on-alive", "alive", 1, ttl_s=2.0)
        await say("closed", "alive", 1, ttl_s=30.0)
        await wait_for(lambda: len(opened) == 3)
        assert sorted(opened) == ["closed", "on-alive", "on-crashed"]  # each polled at once
        # The page closes on a live instance: not viewed from then on, without waiting.
        await say("closed", "alive", 0, ttl_s=30.0)
        await wait_for(lambda: not board.viewed("closed", wall_ms()))
        # "crashed" says nothing more; "alive" refreshes its stream until past the expiry.
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            await say("on-alive", "alive", 1, ttl_s=2.0)
            await asyncio.sleep(0.5)
        await wait_for(lambda: tail.running() and not board.viewed("on-crashed", wall_ms()))
        assert board.viewed("on-alive", wall_ms())
        # The expired entry is forgotten, not only ignored.
        await wait_for(lambda: len(board) == 1)
        assert opened.count("on-crashed") == 1
    finally:
        await tail.stop()
        await producer.stop()
