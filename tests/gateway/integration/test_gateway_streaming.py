"""Server-Sent Events pass through the gateway event by event, from the real playback service,
and a caller that leaves releases the service's stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from backbeat.events.presence import presence_from_record
from backbeat.runtime.testing import ServiceProcess
from tests.gateway.stack import Account, Stack
from tests.playback.integration.harness import publish
from tests.playback.scenarios import Listener, track

pytestmark = pytest.mark.integration


async def frames(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, str]]:
    """The stream's frames as field -> value, the first (``retry:``) included."""
    frame: dict[str, str] = {}
    async for line in lines:
        if not line:
            if frame:
                yield frame
            frame = {}
            continue
        field, _, value = line.partition(":")
        frame[field] = value.strip()


async def open_streams(stack: Stack, user_id: str) -> int | None:
    """How many streams of the user playback says it holds open, by its newest presence
    record (None before any)."""
    consumer = AIOKafkaConsumer(
        stack.presence_topic,
        bootstrap_servers=stack.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    latest: int | None = None
    try:
        while batches := await consumer.getmany(timeout_ms=1000):
            for records in batches.values():
                for record in records:
                    if record.key == user_id.encode():
                        presence = presence_from_record(record.key, record.value, record.headers)
                        latest = presence.open_streams
    finally:
        await consumer.stop()
    return latest


async def test_each_event_arrives_while_the_service_s_stream_is_still_open(
    stack: Stack, gateway: ServiceProcess, account: Account
) -> None:
    listener = Listener(account.user_id).start(track(1)).wait(30).pause(30_000)
    started, paused = listener.events
    async with (
        httpx.AsyncClient(timeout=30) as http,
        http.stream(
            "GET", f"{gateway.url}/api/playback/stream", headers=account.headers
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-accel-buffering"] == "no"
        received = frames(response.aiter_lines())
        assert "retry" in await anext(received)  # the stream is live
        # One event at a time: each arrives while the service's stream stays open, so nothing
        # is held back until it ends.
        await publish(stack.kafka_bootstrap, stack.events_topic, [started])
        first = await asyncio.wait_for(anext(received), timeout=20)
        assert (first["id"], first["event"]) == ("1", "track_started")
        assert "track-1" in first["data"]
        await publish(stack.kafka_bootstrap, stack.events_topic, [paused])
        second = await asyncio.wait_for(anext(received), timeout=20)
        assert (second["id"], second["event"]) == ("2", "paused")


async def test_a_caller_that_leaves_closes_the_service_s_stream(
    stack: Stack, gateway: ServiceProcess, account: Account
) -> None:
    async with (
        httpx.AsyncClient(timeout=30) as http,
        http.stream(
            "GET", f"{gateway.url}/api/playback/stream", headers=account.headers
        ) as response,
    ):
        # Held while the test waits: a dropped reader would close the stream itself.
        received = frames(response.aiter_lines())
        assert "retry" in await anext(received)
        deadline = time.monotonic() + 20
        while await open_streams(stack, account.user_id) != 1:
            assert time.monotonic() < deadline, "playback never counted the open stream"
    # The caller left: the gateway must close its own stream to playback for the count to drop.
    deadline = time.monotonic() + 20
    while await open_streams(stack, account.user_id) != 0:
        assert time.monotonic() < deadline, "playback still holds the stream the caller left"


def test_a_stream_needs_a_user_token(gateway: ServiceProcess) -> None:
    response = httpx.get(f"{gateway.url}/api/playback/stream")
    assert response.status_code == 401
