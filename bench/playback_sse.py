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
from backbeat.runtime.kafka import create_producer, ensure_topics
from backbeat.runtime.testing import ServiceProcess, StaticJson, free_port

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
    """One user's stream over a raw socket: HTTP/1.1, chunked, frames split on blank lines."""

    def __init__(self, user_id: str, token: str, published: dict[tuple[str, int], float]) -> None:
        self.user_id = user_id
        self.token = token
        self.published = published
        self.latencies_ms: list[float] = []

    async def connect(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(
            (
                f"GET /api/playback/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n"
            ).encode()
        )
        status = await self.reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"stream refused: {status!r}")
        while (await self.reader.readline()) not in (b"\r\n", b""):
            pass

    async def read(self) -> None:
        buffer = b""
        while True:
            size_line = await self.reader.readline()
            if not size_line:
                return
            size = int(size_line.strip() or b"0", 16)
            if size == 0:
                return
            buffer += await self.reader.readexactly(size)
            await self.reader.readexactly(2)
            received = time.perf_counter()
            *frames, buffer = buffer.split(b"\n\n")
            for frame in frames:
                if frame.startswith(b"id: "):
                    sequence = int(frame[4 : frame.index(b"\n")])
                    sent = self.published.get((self.user_id, sequence))
                    if sent is not None:
                        self.latencies_ms.append((received - sent) * 1000)

    def close(self) -> None:
        self.writer.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


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

            async def publish_all() -> None:
                interval = 1 / args.rate
                next_at = time.perf_counter()
                for sequence in range(1, args.rounds + 1):
                    for user in users:
                        data = PlaybackEventData(
                            kind=PlaybackEventKind.PAUSED
                            if sequence % 2
                            else PlaybackEventKind.RESUMED,
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
                        await producer.send(
                            settings.events_topic, key=key, value=value, headers=headers
                        )
                await producer.flush()

            await asyncio.wait_for(publish_all(), args.timeout)
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
                "baseline": {"target_p99_ms": TARGET_P99_MS},
                "ratio": {"p99_to_target": round(p99 / TARGET_P99_MS, 2)},
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
