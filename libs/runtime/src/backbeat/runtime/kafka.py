"""Kafka clients with safe defaults: idempotent producers, acks=all, topics created from specs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.protocol.offset import OffsetRequest

from backbeat.runtime.outages import KAFKA, dependency_failure

log = logging.getLogger(__name__)

# How long an aiokafka client waits before retrying a failed request or connection. Its
# default (100 ms, fixed) made every client of a process retry ten times a second while a
# broker was down; half a second keeps recovery well under the 10 s the services promise.
RETRY_BACKOFF_MS = 500

# The options every aiokafka client of the project is built with; clients the runtime does
# not build itself (consumers, FastStream's broker) take them as ``**KAFKA_CLIENT_OPTIONS``.
KAFKA_CLIENT_OPTIONS: Mapping[str, Any] = {"retry_backoff_ms": RETRY_BACKOFF_MS}

# Created topics must have a leader for every partition before anyone produces to them.
TOPIC_LEADERS_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class TopicSpec:
    """A topic the stack needs; partitions and retention are configuration, not code."""

    name: str
    partitions: int = 6
    replication_factor: int = 1
    compacted: bool = False
    config: dict[str, str] = field(default_factory=dict)

    def to_new_topic(self) -> NewTopic:
        configs = dict(self.config)
        if self.compacted:
            configs.setdefault("cleanup.policy", "compact")
        return NewTopic(
            self.name,
            num_partitions=self.partitions,
            replication_factor=self.replication_factor,
            topic_configs=configs,
        )


def create_producer(bootstrap: str, *, client_id: str, **overrides: Any) -> AIOKafkaProducer:
    """A producer that neither loses nor duplicates on retry: idempotence on, acks from all ISR."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "client_id": client_id,
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        **KAFKA_CLIENT_OPTIONS,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


class TopicsNotReady(RuntimeError):
    """Created topics still had partitions without a leader when the wait ended."""


async def start_producer(producer: AIOKafkaProducer, topics: Sequence[str]) -> None:
    """Starts ``producer`` so that every metadata refresh covers each topic in ``topics``.

    aiokafka refreshes the metadata of the topics it was asked to send to, or of every topic
    while it has been asked about none, and forgets the others. A producer that sent to a
    topic it already knew from its start-up metadata and then to a new one lost the first
    topic's leaders at the next refresh and held its records until they timed out (seen on a
    fresh broker, whose first refreshes are slow). Naming all of them up front keeps them all.
    """
    await producer.start()
    await producer.client.set_topics(list(topics))


def topics_without_leaders(
    described: Sequence[Mapping[str, Any]], specs: Sequence[TopicSpec]
) -> list[str]:
    """The names in ``specs`` whose metadata (as ``describe_topics`` returns it) does not yet
    show every partition with a leader."""
    by_name = {entry["topic"]: entry for entry in described}
    waiting = []
    for spec in specs:
        entry = by_name.get(spec.name)
        partitions = entry.get("partitions", []) if entry and entry["error_code"] == 0 else []
        led = {p["partition"] for p in partitions if p["error_code"] == 0 and p["leader"] >= 0}
        if len(led) < spec.partitions:
            waiting.append(spec.name)
    return waiting


async def ensure_topics(
    bootstrap: str, specs: list[TopicSpec], *, timeout_s: float = TOPIC_LEADERS_TIMEOUT_S
) -> None:
    """Create the topics that are missing; existing ones are left as they are.

    Returns once every created topic has a leader for each of its partitions: the broker
    answers CreateTopics before leaders are elected, and a client producing or joining a
    group in between got NotLeaderForPartition. Raises ``TopicsNotReady`` after
    ``timeout_s``."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="backbeat-topics", **KAFKA_CLIENT_OPTIONS
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        created = [spec for spec in specs if spec.name not in existing]
        if not created:
            return
        try:
            await admin.create_topics([spec.to_new_topic() for spec in created])
        except TopicAlreadyExistsError:
            # Another instance created it between list and create: the outcome is the same.
            log.info("topic created concurrently", extra={"topics": [s.name for s in created]})
        log.info("topics created", extra={"topics": [s.name for s in created]})
        await _wait_for_leaders(admin, created, timeout_s)
    finally:
        await admin.close()


async def _wait_for_leaders(
    admin: AIOKafkaAdminClient, specs: list[TopicSpec], timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        described = await admin.describe_topics([spec.name for spec in specs])
        waiting = set(topics_without_leaders(described, specs))
        waiting |= await _not_yet_serving(admin, described, waiting)
        if not waiting:
            return
        if time.monotonic() >= deadline:
            raise TopicsNotReady(f"no leader yet for some partitions of {', '.join(waiting)}")
        specs = [spec for spec in specs if spec.name in waiting]
        await asyncio.sleep(0.05)


async def _not_yet_serving(
    admin: AIOKafkaAdminClient, described: Sequence[Mapping[str, Any]], skip: set[str]
) -> set[str]:
    """The topics some of whose leaders do not answer for them yet. A KRaft broker lists
    itself as a partition's leader a moment before it has taken the partition on; a client
    asking then gets NotLeaderForPartition, so each leader is asked for its end offsets."""
    by_leader: dict[int, dict[str, list[tuple[int, int]]]] = {}
    for topic in described:
        if topic["topic"] in skip:
            continue
        for partition in topic["partitions"]:
            partitions = by_leader.setdefault(partition["leader"], {})
            partitions.setdefault(topic["topic"], []).append((partition["partition"], -1))
    not_serving: set[str] = set()
    for leader, topics in by_leader.items():
        request = OffsetRequest(-1, 0, list(topics.items()))
        # The admin client has no public call for ListOffsets; the request is the protocol's.
        response = await admin._send_request_to_node(leader, request)
        for name, partitions in response.topics:
            if any(error_code != 0 for _, error_code, *_ in partitions):
                not_serving.add(name)
    return not_serving


async def topic_partitions(
    bootstrap: str, topics: Sequence[str], *, client_id: str = "backbeat-partitions"
) -> list[TopicPartition]:
    """Every partition of ``topics`` as the cluster describes them now, in order: what a
    reader that assigns itself whole topics (no consumer group) assigns."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id=client_id, **KAFKA_CLIENT_OPTIONS
    )
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return [
        TopicPartition(topic["topic"], int(partition["partition"]))
        for topic in described
        if topic["topic"] in topics
        for partition in sorted(topic["partitions"], key=lambda p: int(p["partition"]))
    ]


async def kafka_ping(bootstrap: str, timeout_s: float = 3.0) -> None:
    """Raise unless the cluster answers a metadata request. The request names no topic, so
    its cost does not grow with the cluster's topics (listing them all took 87 ms at 2,000
    topics against 17 ms this way)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="backbeat-ping",
        request_timeout_ms=int(timeout_s * 1000),
        **KAFKA_CLIENT_OPTIONS,
    )
    await admin.start()
    try:
        await admin.describe_topics([])
    finally:
        await admin.close()


async def follow_reconnecting(
    follow: Callable[[], Awaitable[None]],
    *,
    what: str,
    first_backoff_s: float = 0.5,
    max_backoff_s: float = 30.0,
) -> None:
    """Runs ``follow`` (a reader that follows a topic until Kafka fails it) again and again,
    after a wait that doubles with each failure in a row, up to ``max_backoff_s``.

    A reader that ran longer than the longest wait before it failed starts again from the
    first wait. The failure line names ``what`` and its dependency, so the outage filter
    (``backbeat.runtime.outages``) holds it back with every other Kafka error while the
    broker is away.
    """
    backoff = first_backoff_s
    while True:
        started = time.monotonic()
        try:
            await follow()
        except asyncio.CancelledError:
            raise
        except (KafkaError, OSError) as exc:
            if time.monotonic() - started > max_backoff_s:
                backoff = first_backoff_s
            log.warning(
                f"{what} lost Kafka; reconnecting",
                extra={
                    "error": type(exc).__name__,
                    "retry_in_s": backoff,
                    **dependency_failure(KAFKA, exc),
                },
            )
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, max_backoff_s)
