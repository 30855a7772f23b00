"""End-to-end delay from a playback change at the Spotify fake to the SSE message a browser
receives through the gateway, at 1,000 users, with every service running as its own process.

Measured on changes while music plays (a track change), after a warm-up in which every user
starts playing. Baseline, measured in the same run over the same open streams: events published
straight onto playback.events (no fake, no watcher); the difference is what polling Spotify
costs. Prints one JSON line last; bounded in time; loopback only.

    python bench/stack_sse_latency.py [--users 1000] [--changes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backbeat.events.cloudevents import to_kafka
from backbeat.events.playback import PlaybackEventData, PlaybackEventKind, playback_event
from backbeat.runtime.kafka import create_producer
from tests.conftest import test_database_url
from tests.e2e.full_stack import full_stack
from tests.gateway.stack import Account, connect_spotify, sign_up

KAFKA = os.environ.get("BACKBEAT_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


class Stream:
    """One user's live stream through the gateway, noting when each frame arrives."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.frames: list[tuple[float, str]] = []

    async def follow(self, http: httpx.AsyncClient) -> None:
        headers = self.account.headers
        async with http.stream("GET", "/api/playback/stream", headers=headers) as stream:
            async for line in stream.aiter_lines():
                if line.startswith("data:"):
                    self.frames.append((time.perf_counter(), line))

    def arrival_of(self, needle: str, after: float) -> float | None:
        for at, line in self.frames:
            if at >= after and needle in line:
                return at
        return None


async def run(users: int, changes: int) -> dict[str, object]:
    databases = {name: test_database_url(name) for name in ("auth", "tokens", "playback")}
    watcher = {"RATE_BUDGET_PER_S": "1000", "RATE_BUDGET_BURST": "1000", "LOG_LEVEL": "WARNING"}
    # Starting the stack migrates the databases, which runs its own event loop: a thread.
    running = full_stack(databases, KAFKA, watcher_settings=watcher)
    stack = await asyncio.to_thread(running.__enter__)
    try:
        gateway, fake = stack.gateway.url, stack.fake.url
        accounts: list[Account] = []
        spotify_users: list[str] = []
        for _ in range(users):
            account = await asyncio.to_thread(sign_up, gateway)
            accounts.append(account)
            spotify_users.append(await asyncio.to_thread(connect_spotify, gateway, fake, account))
        print(f"{users} users signed up and connected", file=sys.stderr)
        limits = httpx.Limits(max_connections=users + 50)
        async with (
            httpx.AsyncClient(base_url=gateway, timeout=300, limits=limits) as http,
            httpx.AsyncClient(base_url=fake, timeout=30) as spotify,
        ):
            catalogue = (await spotify.get("/_control/catalog", params={"limit": 50})).json()
            tracks = [item["id"] for item in catalogue["items"]]
            streams = [Stream(account) for account in accounts]
            followers = [asyncio.create_task(s.follow(http)) for s in streams]
            await asyncio.sleep(5)  # streams open, watcher owns the users
            # Everyone starts playing first (not measured): idle players are polled slowly
            # (up to the long-idle interval), playing ones at the active interval.
            for user in spotify_users:
                await spotify.put(
                    f"/_control/users/{user}/playback",
                    json={"track_id": tracks[-1], "is_playing": True, "progress_ms": 0},
                )
            await asyncio.sleep(65)
            delays: list[float] = []
            for round_ in range(changes):
                track = tracks[round_ % (len(tracks) - 1)]
                changed_at: list[float] = []
                for user in spotify_users:
                    changed_at.append(time.perf_counter())
                    await spotify.put(
                        f"/_control/users/{user}/playback",
                        json={"track_id": track, "is_playing": True, "progress_ms": 0},
                    )
                await asyncio.sleep(12)  # more than the active interval plus the pipeline
                for stream, at in zip(streams, changed_at, strict=True):
                    arrived = stream.arrival_of(track, at)
                    if arrived is not None:
                        delays.append((arrived - at) * 1000)
            # Baseline: the same streams, events published straight to the topic.
            producer = create_producer(KAFKA, client_id="bench-stack-sse", linger_ms=0)
            await producer.start()
            direct: list[float] = []
            try:
                marker = f"direct-{uuid.uuid4().hex[:6]}"
                sent_at: list[float] = []
                for n, account in enumerate(accounts):
                    data = PlaybackEventData(
                        kind=PlaybackEventKind.SEEKED,
                        user_id=account.user_id,
                        sequence=10_000 + n,
                        track=None,
                        progress_ms=1,
                        is_playing=True,
                        observed_at=datetime.now(UTC),
                    )
                    event = playback_event(data, event_id=f"{marker}-{n}")
                    key, value, headers = to_kafka(event)
                    sent_at.append(time.perf_counter())
                    await producer.send(stack.events_topic, key=key, value=value, headers=headers)
                await producer.flush()
                await asyncio.sleep(5)
                for n, (stream, at) in enumerate(zip(streams, sent_at, strict=True)):
                    arrived = stream.arrival_of(f"{marker}-{n}", at)
                    if arrived is not None:
                        direct.append((arrived - at) * 1000)
            finally:
                await producer.stop()
                for follower in followers:
                    follower.cancel()
    finally:
        await asyncio.to_thread(running.__exit__, None, None, None)
    expected = users * changes
    return {
        "bench": "stack_sse_latency",
        "results": {
            "users": users,
            "changes": expected,
            "received": len(delays),
            "p50_ms": round(percentile(delays, 0.5), 1),
            "p95_ms": round(percentile(delays, 0.95), 1),
            "p99_ms": round(percentile(delays, 0.99), 1),
            "mean_ms": round(statistics.fmean(delays), 1) if delays else None,
            "watcher_active_interval_s": 5.0,
        },
        "baseline": {
            "direct_publish_received": len(direct),
            "p50_ms": round(percentile(direct, 0.5), 1),
            "p99_ms": round(percentile(direct, 0.99), 1),
        },
        "ratio": {
            "p50": round(percentile(delays, 0.5) / max(percentile(direct, 0.5), 0.001), 1),
            "p99": round(percentile(delays, 0.99) / max(percentile(direct, 0.99), 0.001), 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--changes", type=int, default=2, help="track changes per user")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.users, args.changes))))


if __name__ == "__main__":
    main()
