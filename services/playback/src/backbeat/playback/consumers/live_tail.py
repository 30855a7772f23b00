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

import logging
from typing import Any

from aiokafka import ConsumerRecord
from prometheus_client import CollectorRegistry, Counter

from backbeat.events.cloudevents import MalformedEvent
from backbeat.events.users import deleted_user_id
from backbeat.playback.live.frames import live_event_from_record
from backbeat.playback.live.hub import LiveHub
from backbeat.runtime.tail import Batch, TopicTail

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
        self.events_topic = events_topic
        self.hub = hub
        self.metrics = metrics
        self._tail = TopicTail(
            bootstrap,
            [events_topic, users_topic],
            handle=self._take,
            start_at="end",
            name="playback-live-tail",
            client_id=client_id,
            # The watcher publishes in transactions: an aborted one's events never happened.
            read_committed=True,
            fetch_max_wait_ms=200,
            max_records=2_000,
        )

    async def start(self) -> None:
        """Fix the start positions at the current ends: an event published after ``start``
        returns reaches the hub."""
        await self._tail.start()

    def check_running(self) -> None:
        """Readiness: raise when the tail has stopped reading."""
        if not self._tail.running():
            raise RuntimeError("the live tail is not running")

    async def stop(self) -> None:
        await self._tail.stop()

    def _take(self, batch: Batch) -> None:
        for partition, records in batch.items():
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
        user_id = deleted_user_id(
            record,
            log,
            unreadable="unreadable user lifecycle record skipped by the live tail",
            level=logging.WARNING,
        )
        if user_id is not None:
            self.hub.erase(user_id)
