"""Benchmark: publish-to-SSE latency of the live stream at 1,000 users.

Starts one playback process (``python -m backbeat.playback``, live stream on) on loopback with
topics of its own, connects one Server-Sent Events client per user (1,000 by default, one
asyncio connection each, in this process), then publishes playback events for every user at a
steady rate and measures, per event, the time from just before the producer is handed the
record to the moment the client has read the frame. Both ends use this process's clock.
Bounded by --timeout; prints one JSON line last.

    python bench/playback_sse.py [--users 1000] [--rounds 5] [--rate 1000]

Uses BACKBEAT_KAFKA_BOOTSTRAP and the development database (the service checks it is ready).
The consumer group is off by default (--consume turns it on), so what is measured is the
stream path: Kafka, the instance's live tail, the in-process fan-out and the socket.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from backbeat.authn.testing import TokenForge
from backbeat.events.cloudevents import to_kafka
from backbeat.events.playback import (
    Artist,
    Device,
    PlaybackEventData,
    PlaybackEventKind,
    Track,
    playback_event,
)
from backbeat.playback.consumers.runtime import topic_specs
from backbeat.playback.settings import PlaybackSettings
from backbeat.runtime.kafka import TopicSpec, create_producer, ensure_topics
from backbeat.runtime.testing import (
    EventStreamSocket,
    ServiceProcess,
    StaticJson,
    delete_run_topics,
    free_port,
    percentile,
)

TARGET_P99_MS = 100.0
ISSUER = "http://auth.bench"
TRACK = Track(
    id="bench-track",
    uri="spotify:track:bench-track",
    name="Bench",
    artists=[Artist(id="bench-artist", name="Bench")],
    duration_ms=200_000,
)
DEVICE = Device(id="bench-device", name="Bench", type="Computer")


class StreamClient:
    """One user's stream over a raw socket, noting each of its events' latency."""

    def __init__(self, user_id: str, token: str, published: dict[tuple[str, int], float]) -> None:
        self.user_id = user_id
        self.token = token
        self.published = published
        self.latencies_ms: list[float] = []

    async def connect(self, port: int) -> None:
        self.stream = EventStreamSocket(port, "/api/playback/stream", self.token)
        await self.stream.open()

    async def read(self) -> None:
        async for frames in self.stream.frames():
            received = time.perf_counter()
            for frame in frames:
                if frame.startswith(b"id: "):
                    sequence = int(frame[4 : frame.index(b"\n")])
                    sent = self.published.get((self.user_id, sequence))
                    if sent is not None:
                        self.latencies_ms.append((received - sent) * 1000)

    def close(self) -> None:
        self.stream.close()


async def publish_events(
    producer: AIOKafkaProducer,
    topic: str,
    users: list[str],
    rounds: int,
    rate: float,
    published: dict[tuple[str, int], float],
) -> None:
    """Publish ``rounds`` events per user at a steady ``rate``, noting when each was handed over."""
    interval = 1 / rate
    next_at = time.perf_counter()
    for sequence in range(1, rounds + 1):
        for user in users:
            data = PlaybackEventData(
                kind=PlaybackEventKind.PAUSED if sequence % 2 else PlaybackEventKind.RESUMED,
                user_id=user,
                sequence=sequence,
                track=TRACK,
                progress_ms=1_000 * sequence,
                is_playing=sequence % 2 == 0,
                device=DEVICE,
                observed_at=datetime.now(UTC),
            )
            key, value, headers = to_kafka(playback_event(data))
            next_at += interval
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            published[(user, sequence)] = time.perf_counter()
            await producer.send(topic, key=key, value=value, headers=headers)
    await producer.flush()


async def raw_consume_latencies(
    settings: PlaybackSettings, users: list[str], rounds: int, rate: float, budget_s: float
) -> list[float]:
    """The floor: the same events at the same rate, read straight from Kafka by a consumer in
    this process (no service, no HTTP), publish-to-read in milliseconds."""
    topic = f"{settings.events_topic}.raw"
    await ensure_topics(
        settings.kafka_bootstrap, [TopicSpec(topic, partitions=settings.events_partitions)]
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        fetch_max_wait_ms=200,
    )
    await consumer.start()
    # Created just above with this many partitions.
    partitions = [TopicPartition(topic, p) for p in range(settings.events_partitions)]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for partition in partitions:
        await consumer.position(partition)
    producer = create_producer(settings.kafka_bootstrap, client_id="bench-raw", linger_ms=0)
    await producer.start()
    published: dict[tuple[str, int], float] = {}
    latencies: list[float] = []
    expected = len(users) * rounds

    async def read() -> None:
        while len(latencies) < expected:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                now = time.perf_counter()
                for record in records:
                    data = orjson.loads(record.value or b"{}")
                    sent = published.get((data["user_id"], data["sequence"]))
                    if sent is not None:
                        latencies.append((now - sent) * 1000)

    reader = asyncio.create_task(read())
    try:
        await asyncio.wait_for(
            publish_events(producer, topic, users, rounds, rate, published), budget_s
        )
        await asyncio.wait_for(reader, 30)
    finally:
        reader.cancel()
        await producer.stop()
        await consumer.stop()
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5, help="events per user")
    parser.add_argument("--rate", type=float, default=1_000.0, help="events published per second")
    parser.add_argument("--consume", action="store_true", help="also run the consumer group")
    parser.add_argument("--timeout", type=float, default=240.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    run = uuid.uuid4().hex[:8]
    settings = PlaybackSettings().model_copy(
        update={
            "events_topic": f"bench.playback.events.{run}",
            "dead_letter_topic": f"bench.playback.events.dlq.{run}",
            "users_topic": f"bench.auth.users.{run}",
            "revocations_topic": f"bench.auth.revocations.{run}",
            "consumer_group": f"bench-playback-sse-{run}",
            "erasure_consumer_group": f"bench-playback-sse-erasure-{run}",
        }
    )
    await ensure_topics(settings.kafka_bootstrap, topic_specs(settings))
    forge = TokenForge(issuer=ISSUER)
    users = [str(uuid.uuid4()) for _ in range(args.users)]
    published: dict[tuple[str, int], float] = {}
    clients = [StreamClient(user, forge.user_token(sub=user), published) for user in users]
    port = free_port()

    with StaticJson(forge.jwks()) as jwks:
        service = ServiceProcess(
            "playback-sse-bench",
            "backbeat.playback",
            port,
            env={
                "BACKBEAT_PLAYBACK_PORT": str(port),
                "BACKBEAT_PLAYBACK_AUTH_ISSUER": ISSUER,
                "BACKBEAT_PLAYBACK_AUTH_JWKS_URL": jwks.url,
                "BACKBEAT_PLAYBACK_EVENTS_TOPIC": settings.events_topic,
                "BACKBEAT_PLAYBACK_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
                "BACKBEAT_PLAYBACK_USERS_TOPIC": settings.users_topic,
                "BACKBEAT_PLAYBACK_REVOCATIONS_TOPIC": settings.revocations_topic,
                "BACKBEAT_PLAYBACK_CONSUMER_GROUP": settings.consumer_group,
                "BACKBEAT_PLAYBACK_ERASURE_CONSUMER_GROUP": settings.erasure_consumer_group,
                "BACKBEAT_PLAYBACK_CONSUME": "true" if args.consume else "false",
                "BACKBEAT_PLAYBACK_LOG_LEVEL": "WARNING",
            },
        )
        service.start(timeout_s=90)
        # No lingering: each event leaves at once, as the watcher's do at this rate.
        producer = create_producer(
            settings.kafka_bootstrap, client_id="bench-playback-sse", linger_ms=0
        )
        await producer.start()
        readers: list[asyncio.Task[None]] = []
        try:
            connect_started = time.perf_counter()
            for offset in range(0, len(clients), 100):
                await asyncio.gather(*(c.connect(port) for c in clients[offset : offset + 100]))
            connect_s = time.perf_counter() - connect_started
            readers = [asyncio.create_task(client.read()) for client in clients]
            print(f"{len(clients)} streams open in {connect_s:.1f} s", file=sys.stderr)

            await asyncio.wait_for(
                publish_events(
                    producer, settings.events_topic, users, args.rounds, args.rate, published
                ),
                args.timeout,
            )
            # Stragglers get a few seconds; what has not arrived by then counts as lost.
            deadline = time.monotonic() + 30
            expected = args.users * args.rounds
            while sum(len(c.latencies_ms) for c in clients) < expected:
                if time.monotonic() > deadline:
                    print("not every event arrived within 30 s", file=sys.stderr)
                    break
                await asyncio.sleep(0.1)
        finally:
            for task in readers:
                task.cancel()
            for client in clients:
                if hasattr(client, "writer"):
                    client.close()
            await producer.stop()
            service.stop()

    latencies = [ms for client in clients for ms in client.latencies_ms]
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    try:
        raw = await raw_consume_latencies(settings, users, args.rounds, args.rate, args.timeout)
    finally:
        await delete_run_topics(settings.kafka_bootstrap, run)
    raw_p50, raw_p99 = percentile(raw, 0.5), percentile(raw, 0.99)
    print(f"p50 {p50:.1f} ms, p99 {p99:.1f} ms over {len(latencies)} events", file=sys.stderr)
    print(
        json.dumps(
            {
                "bench": "playback_sse",
                "results": {
                    "users": args.users,
                    "streams_open": len(clients),
                    "events_published": args.users * args.rounds,
                    "events_received": len(latencies),
                    "publish_rate_per_s": args.rate,
                    "p50_ms": round(p50, 1),
                    "p99_ms": round(p99, 1),
                    "max_ms": round(max(latencies), 1),
                    "mean_ms": round(statistics.fmean(latencies), 1),
                    "consumer_group_running": args.consume,
                },
                "baseline": {
                    "raw_kafka_p50_ms": round(raw_p50, 1),
                    "raw_kafka_p99_ms": round(raw_p99, 1),
                    "raw_kafka_events_read": len(raw),
                    "target_p99_ms": TARGET_P99_MS,
                },
                "ratio": {
                    "p50_to_raw_kafka": round(p50 / raw_p50, 2),
                    "p99_to_raw_kafka": round(p99 / raw_p99, 2),
                    "p99_to_target": round(p99 / TARGET_P99_MS, 2),
                },
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
