"""Feeds a :class:`RevocationList` from auth's revocations topic.

Every instance of every verifying service reads every partition itself, from the beginning
and with no consumer group (nothing committed, nothing rebalanced): each must know every
revocation. The topic only holds records young enough to matter (its retention is a little
longer than the longest access-token lifetime), so reading it from the start is quick. The
list is *current* once the reader has reached the ends the partitions had when it started;
until then the service is not ready. When Kafka goes away the reader reconnects and reads
again from the beginning (repeats are harmless); what was revoked meanwhile arrives then.

The partitions are those the topic has when the reader connects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from backbeat.authn.revocations import Revocation, RevocationList
from backbeat.events.cloudevents import MalformedEvent, from_kafka, read_attributes
from backbeat.events.revocations import SESSION_REVOKED_EVENT_TYPE, SessionRevoked
from backbeat.runtime.kafka import (
    KAFKA_CLIENT_OPTIONS,
    TopicSpec,
    ensure_topics,
    follow_reconnecting,
    topic_partitions,
)

log = logging.getLogger(__name__)

# Extra time the topic keeps a record beyond the longest access-token lifetime (clock skew,
# a reader that was away for a moment).
RETENTION_MARGIN_S = 300


def revocations_topic_spec(name: str, *, max_token_lifetime_s: float, partitions: int) -> TopicSpec:
    """The topic as auth creates it (and a verifier, if it starts first): time retention a
    little longer than the longest token, in segments small enough to be deleted on time."""
    retention_ms = str(int((max_token_lifetime_s + RETENTION_MARGIN_S) * 1000))
    return TopicSpec(
        name,
        partitions=partitions,
        config={
            "cleanup.policy": "delete",
            "retention.ms": retention_ms,
            "segment.ms": retention_ms,
        },
    )


def revocation_from_record(record: ConsumerRecord[Any, Any]) -> Revocation | None:
    """The revocation a record carries; None for other event types. ``MalformedEvent`` or
    ``ValueError`` when it is not readable."""
    if read_attributes(record.headers).get("type") != SESSION_REVOKED_EVENT_TYPE:
        return None
    event = from_kafka(record.key, record.value, record.headers, SessionRevoked)
    data = event.data
    revoked_at = data.revoked_at
    if revoked_at.tzinfo is None:
        revoked_at = revoked_at.replace(tzinfo=UTC)
    return Revocation(
        user_id=UUID(data.user_id),
        session_id=UUID(data.session_id) if data.session_id is not None else None,
        revoked_at=revoked_at.timestamp(),
    )


class RevocationFeed:
    """Reads ``spec.name`` into ``revocations`` until stopped, reconnecting after failures."""

    def __init__(
        self,
        bootstrap: str,
        spec: TopicSpec,
        revocations: RevocationList,
        *,
        client_id: str,
        fetch_max_wait_ms: int = 100,
        max_backoff_s: float = 10.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.spec = spec
        self.revocations = revocations
        self.client_id = client_id
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.max_backoff_s = max_backoff_s
        self._current = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, *, wait_s: float) -> None:
        """Start reading; return once the list is current or ``wait_s`` has passed (the
        service then starts not ready, and becomes ready when the reader catches up)."""
        self._task = asyncio.create_task(self._run(), name="revocation-feed")
        try:
            await asyncio.wait_for(asyncio.shield(self._current.wait()), wait_s)
        except TimeoutError:
            log.warning(
                "revocations not caught up at start; user tokens wait",
                extra={"topic": self.spec.name, "waited_s": wait_s},
            )

    def check_current(self) -> None:
        """Readiness: raise until every revocation published before the start is known."""
        if not self.revocations.current:
            raise RuntimeError("the revocation feed has not caught up yet")
        if self._task is None or self._task.done():
            raise RuntimeError("the revocation feed is not running")

    async def ready(self) -> None:
        """``check_current`` as a service's readiness check."""
        self.check_current()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        await follow_reconnecting(
            self._follow, what="revocation feed", max_backoff_s=self.max_backoff_s
        )

    async def _partitions(self) -> list[TopicPartition]:
        return await topic_partitions(self.bootstrap, [self.spec.name], client_id=self.client_id)

    async def _follow(self) -> None:
        await ensure_topics(self.bootstrap, [self.spec])
        partitions = await self._partitions()
        if not partitions:
            raise KafkaError(f"topic {self.spec.name} has no partitions")
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # An idle fetch returns after this long; a record is returned as soon as it exists.
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            **KAFKA_CLIENT_OPTIONS,
        )
        await consumer.start()
        try:
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            caught_up = self.revocations.current
            while True:
                if not caught_up:
                    positions = {p: await consumer.position(p) for p in partitions}
                    if all(positions[p] >= ends[p] for p in partitions):
                        caught_up = True
                        self.revocations.mark_current()
                        self._current.set()
                        log.info(
                            "revocations caught up",
                            extra={"topic": self.spec.name, "known": len(self.revocations)},
                        )
                batches = await consumer.getmany(timeout_ms=1_000, max_records=1_000)
                for records in batches.values():
                    for record in records:
                        self._apply(record)
        finally:
            await consumer.stop()

    def _apply(self, record: ConsumerRecord[Any, Any]) -> None:
        try:
            revocation = revocation_from_record(record)
        except (MalformedEvent, ValueError) as exc:
            log.warning(
                "unreadable revocation record skipped",
                extra={
                    "reason": getattr(exc, "reason", type(exc).__name__),
                    "partition": record.partition,
                    "offset": record.offset,
                },
            )
            return
        if revocation is not None:
            self.revocations.add(revocation)
