"""Tails ``playback.events`` (and ``auth.users``) for the live streams of this instance.

Why not the consumer group: the group splits the partitions between instances, but a user's
stream may be connected to any instance. So each instance also reads every partition itself,
with no group (nothing committed, nothing rebalanced), starting at the end of each partition
when it starts, and hands each event to the in-process hub. A stream therefore never waits
for the database: what the watcher publishes reaches the browser straight from Kafka.

The partitions are those the topic has at start; partitions added later are not tailed until
the instance restarts (partition counts are configuration and change only with a deploy).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from prometheus_client import CollectorRegistry, Counter

from backbeat.events.cloudevents import MalformedEvent
from backbeat.events.users import deleted_user
from backbeat.playback.live.frames import live_event_from_record
from backbeat.playback.live.hub import LiveHub
from backbeat.runtime.kafka import KAFKA_CLIENT_OPTIONS, topic_partitions

log = logging.getLogger(__name__)


class LiveTailMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.events = Counter(
            "playback_live_events",
            "Playback events read by this instance's live tail, by what became of them",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("fanned_out", "duplicate_or_erased", "unreadable"):
            self.events.labels(outcome)


class LiveTail:
    """Reads the topics from their ends into ``hub`` until stopped."""

    def __init__(
        self,
        bootstrap: str,
        *,
        events_topic: str,
        users_topic: str,
        hub: LiveHub,
        metrics: LiveTailMetrics,
        client_id: str = "backbeat-playback-live",
    ) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.events_topic = events_topic
        self.users_topic = users_topic
        self.hub = hub
        self.metrics = metrics
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            # The watcher publishes in transactions: an aborted one's events never happened.
            isolation_level="read_committed",
            # An idle fetch returns after this long; a record is returned as soon as it exists.
            fetch_max_wait_ms=200,
            **KAFKA_CLIENT_OPTIONS,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Assign every partition and fix the start positions at the current ends: an event
        published after ``start`` returns reaches the hub."""
        partitions = await topic_partitions(
            self.bootstrap, [self.events_topic, self.users_topic], client_id=self.client_id
        )
        if not any(partition.topic == self.events_topic for partition in partitions):
            raise RuntimeError(f"topic {self.events_topic} has no partitions")
        await self.consumer.start()
        try:
            self.consumer.assign(partitions)
            await self.consumer.seek_to_end(*partitions)
            # seek_to_end is lazy: asking for each position resolves it now, not at the first
            # fetch, which could be after events that a just-connected client waits for.
            for partition in partitions:
                await self.consumer.position(partition)
        except BaseException:
            await self.consumer.stop()
            raise
        self._task = asyncio.create_task(self._run(), name="playback-live-tail")
        self._task.add_done_callback(self._on_done)

    @staticmethod
    def _on_done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("the live tail stopped; live streams get no events", exc_info=error)

    def check_running(self) -> None:
        """Readiness: raise when the tail has stopped reading."""
        if self._task is None or self._task.done():
            raise RuntimeError("the live tail is not running")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.consumer.stop()

    async def _run(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=1_000, max_records=2_000)
            for partition, records in batches.items():
                if partition.topic == self.events_topic:
                    for record in records:
                        self._fan_out(record)
                else:
                    for record in records:
                        self._erase(record)

    def _fan_out(self, record: ConsumerRecord[Any, Any]) -> None:
        try:
            event = live_event_from_record(record.key, record.value, record.headers)
        except MalformedEvent as exc:
            # The projection's consumer dead-letters it; here it is only skipped.
            self.metrics.events.labels("unreadable").inc()
            log.debug(
                "unreadable playback record skipped by the live tail", extra={"reason": exc.reason}
            )
            return
        outcome = "fanned_out" if self.hub.publish(event) else "duplicate_or_erased"
        self.metrics.events.labels(outcome).inc()

    def _erase(self, record: ConsumerRecord[Any, Any]) -> None:
        try:
            deleted = deleted_user(record.key, record.value, record.headers)
        except MalformedEvent as exc:
            log.warning(
                "unreadable user lifecycle record skipped by the live tail",
                extra={
                    "reason": exc.reason,
                    "partition": record.partition,
                    "offset": record.offset,
                },
            )
            return
        if deleted is None:
            return
        self.hub.erase(deleted.user_id)
