"""Benchmark of the watcher's poll scheduler.

Part 1 (scale): 10,000 users watched by one scheduler in this process at a 5 s active
interval, publishing to Kafka through the watcher's transactional publisher. Spotify is a
cheap in-process stand-in (players computed from the clock) so that what is measured is the
watcher: schedule lag p99 and CPU per 1,000 users. The Spotify fake serves ~1,100 requests/s
on a 2-core machine and could not answer 2,000/s.

Part 2 (adaptive vs fixed): the same seeded simulated listeners in the Spotify fake, run as
its own process on a real clock, watched at once by two schedulers in this process: the
adaptive schedule and a fixed 5 s poll, each through its own Spotify app so the fake counts
their requests apart. Reported: Web API requests per user-hour and the detection delay p95
of track changes (a track following another) against the fake's ground truth.

Prints one JSON line last. Needs Kafka at BACKBEAT_KAFKA_BOOTSTRAP (default 127.0.0.1:9092).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import statistics
import sys
import time
import uuid
from collections import defaultdict
from typing import Any

import httpx

from backbeat.events.playback import Artist, Device, PlaybackEventKind, Track
from backbeat.runtime.kafka import TopicSpec, ensure_topics
from backbeat.runtime.testing import delete_run_topics, spotify_fake
from backbeat.spotify import SpotifyClient, WebApiSettings
from backbeat.watcher.adapters.clock import RealClock
from backbeat.watcher.adapters.publisher import Publisher
from backbeat.watcher.adapters.spotify_reader import SpotifyPlaybackReader
from backbeat.watcher.domain.rate_budget import RateBudgets
from backbeat.watcher.domain.schedule import PollIntervals
from backbeat.watcher.domain.snapshot import PlaybackSnapshot, RecentPlay
from backbeat.watcher.domain.timeline import Observation, WatchState
from backbeat.watcher.service.scheduler import PollScheduler, SchedulerPolicy, WatchedUser
from backbeat.watcher.testing import (
    StaticAccessTokens,
    connect_spotify_users,
    register_spotify_app,
)
from backbeat.watcher.workers.metrics import WatcherMetrics

SCALE_USERS = int(os.environ.get("BENCH_WATCHER_USERS", "10000"))
SCALE_SECONDS = float(os.environ.get("BENCH_WATCHER_SCALE_S", "60"))
COMPARE_USERS = int(os.environ.get("BENCH_WATCHER_COMPARE_USERS", "300"))
COMPARE_SECONDS = float(os.environ.get("BENCH_WATCHER_COMPARE_S", "150"))
WARMUP_S = 10.0
BOOTSTRAP = os.environ.get("BACKBEAT_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class LagRecorder:
    """Stands in for the lag histogram to keep every sample."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.recording = False

    def observe(self, value: float) -> None:
        if self.recording:
            self.samples.append(value)


class StandInPlayers:
    """A cheap Spotify: each user plays tracks back to back (a fifth of them nothing)."""

    def __init__(self, users: int) -> None:
        rng = random.Random(7)
        self.device = Device(id="d1", name="Laptop", type="Computer")
        self.tracks = [
            Track(
                id=f"t{n}",
                uri=f"spotify:track:t{n}",
                name=f"Track {n}",
                artists=[Artist(id="a", name="Artist")],
                duration_ms=rng.randint(150_000, 300_000),
            )
            for n in range(500)
        ]
        self.offsets = [rng.randint(0, 10_000_000) for _ in range(users)]
        self.idle = [rng.random() < 0.2 for _ in range(users)]
        self.polls = 0

    async def playback(self, access_token: str) -> PlaybackSnapshot:
        self.polls += 1
        index = int(access_token)
        now = time.time_ns() // 1_000_000
        if self.idle[index]:
            return PlaybackSnapshot.nothing_playing(now)
        # The same 20-track loop for everyone, shifted per user.
        position = (now + self.offsets[index]) % 4_500_000
        for n in range(20):
            track = self.tracks[(index + n) % len(self.tracks)]
            if position < track.duration_ms:
                return PlaybackSnapshot(
                    observed_at_ms=now,
                    track=track,
                    is_playing=True,
                    progress_ms=position,
                    device=self.device,
                    spotify_timestamp_ms=now - position,
                )
            position -= track.duration_ms
        return PlaybackSnapshot(observed_at_ms=now, device=self.device, is_playing=False)

    async def plays_after(self, access_token: str, after_ms: int) -> list[RecentPlay]:
        return []


async def scale_run() -> dict[str, Any]:
    unique = uuid.uuid4().hex[:8]
    events_topic, state_topic = f"bench.watcher.events.{unique}", f"bench.watcher.state.{unique}"
    await ensure_topics(
        BOOTSTRAP,
        [
            TopicSpec(events_topic, partitions=3),
            TopicSpec(state_topic, partitions=1, compacted=True),
        ],
    )
    metrics = WatcherMetrics()
    lag = LagRecorder()
    metrics.schedule_lag = lag  # type: ignore[assignment]
    publisher = Publisher(
        BOOTSTRAP,
        events_topic=events_topic,
        state_topic=state_topic,
        transactional_id_prefix=f"bench-watcher-{unique}",
        commit_interval_s=0.1,
        metrics=metrics,
        on_fenced=lambda partition: None,
    )
    await publisher.open(0)
    players = StandInPlayers(SCALE_USERS)
    scheduler = PollScheduler(
        clock=RealClock(),
        reader=players,
        tokens=StaticAccessTokens({str(n): str(n) for n in range(SCALE_USERS)}),
        sink=lambda user, observation: publisher.publish(0, user.user_id, observation),
        budgets=RateBudgets(1e9, 1e9),
        policy=SchedulerPolicy(intervals=PollIntervals(active_s=5.0), max_in_flight=256),
        metrics=metrics,
        rng=random.Random(3),
    )
    now_ms = time.time_ns() // 1_000_000
    for n in range(SCALE_USERS):
        scheduler.watch(WatchedUser(str(n), 0, "bench", now_ms, WatchState(str(n))))
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(WARMUP_S)
    lag.recording = True
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    polls_before = players.polls
    events_before = metrics.events_published._value.get()
    started = time.monotonic()
    await asyncio.sleep(SCALE_SECONDS)
    wall = time.monotonic() - started
    usage_after = resource.getrusage(resource.RUSAGE_SELF)
    lag.recording = False
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await publisher.close_all()
    await delete_run_topics(BOOTSTRAP, unique)
    cpu_s = (usage_after.ru_utime - usage_before.ru_utime) + (
        usage_after.ru_stime - usage_before.ru_stime
    )
    polls = players.polls - polls_before
    return {
        "users": SCALE_USERS,
        "active_interval_s": 5.0,
        "spotify": "in-process stand-in (players computed from the clock)",
        "seconds": round(wall, 1),
        "polls_per_s": round(polls / wall, 1),
        "events_published_per_s": round(
            (metrics.events_published._value.get() - events_before) / wall, 1
        ),
        "schedule_lag_p50_ms": round(1000 * (percentile(lag.samples, 0.5) or 0), 1),
        "schedule_lag_p99_ms": round(1000 * (percentile(lag.samples, 0.99) or 0), 1),
        "schedule_lag_max_ms": round(1000 * max(lag.samples, default=0), 1),
        "cpu_cores_used": round(cpu_s / wall, 3),
        "cpu_cores_per_1000_users": round(cpu_s / wall / (SCALE_USERS / 1000), 4),
    }


class EventLog:
    def __init__(self) -> None:
        self.starts: dict[str, list[tuple[str, int]]] = defaultdict(list)

    def __call__(self, user: WatchedUser, observation: Observation) -> bool:
        for event in observation.events:
            if event.kind is PlaybackEventKind.TRACK_STARTED and event.track is not None:
                at = int(event.observed_at.timestamp() * 1000)
                self.starts[user.user_id].append((event.track.id, at))
        return True


def detection_delays(
    truth: dict[str, list[dict[str, Any]]], log_: EventLog, since_ms: int, until_ms: int
) -> tuple[list[float], list[float], int]:
    """Delays (s) of track changes and of session starts begun in [since, until]."""
    changes: list[float] = []
    session_starts: list[float] = []
    missed = 0
    for user_id, plays in truth.items():
        starts = log_.starts.get(user_id, [])
        previous_end: int | None = None
        for play in plays:
            began = play["started_at_ms"]
            follows = previous_end is not None and began - previous_end < 1_000
            previous_end = play["ended_at_ms"]
            if not since_ms <= began <= until_ms - 10_000:
                continue
            end = play["ended_at_ms"] or until_ms
            seen = [
                at for item, at in starts if item == play["item_id"] and began <= at <= end + 6_000
            ]
            if not seen:
                missed += 1
                continue
            (changes if follows else session_starts).append((min(seen) - began) / 1000)
    return changes, session_starts, missed


async def compare_run() -> tuple[dict[str, Any], dict[str, Any]]:
    fake = spotify_fake(
        "--listeners", str(COMPARE_USERS), "--seed", "5", "--rate-limit", "0"
    ).start()
    try:
        async with httpx.AsyncClient(base_url=fake.url, timeout=30) as http:
            users = (await http.get("/_control/simulation")).json()["simulated_user_ids"]
            schedulers: dict[str, tuple[PollScheduler, EventLog, str, SpotifyClient]] = {}
            for name, intervals in (
                ("adaptive", PollIntervals(active_s=5.0)),
                ("fixed_5s", PollIntervals(active_s=5.0, adaptive=False)),
            ):
                client_id, secret = await register_spotify_app(http)
                tokens = await connect_spotify_users(http, client_id, secret, users)
                spotify = SpotifyClient(WebApiSettings(api_base_url=fake.url))
                clock = RealClock()
                events = EventLog()
                scheduler = PollScheduler(
                    clock=clock,
                    reader=SpotifyPlaybackReader(spotify, clock.wall_ms),
                    tokens=StaticAccessTokens(tokens),
                    sink=events,
                    budgets=RateBudgets(1e9, 1e9),
                    policy=SchedulerPolicy(intervals=intervals, max_in_flight=64),
                    metrics=WatcherMetrics(),
                    rng=random.Random(9),
                )
                schedulers[name] = (scheduler, events, client_id, spotify)
            since = time.time_ns() // 1_000_000
            for scheduler, _, _, _ in schedulers.values():
                for user in users:
                    scheduler.watch(WatchedUser(user, 0, "bench", since, WatchState(user)))
            tasks = [asyncio.create_task(s.run()) for s, _, _, _ in schedulers.values()]
            calls_before = (await http.get("/_control/stats")).json()["web_api_calls"]["by_client"]
            started = time.monotonic()
            await asyncio.sleep(COMPARE_SECONDS)
            wall = time.monotonic() - started
            calls = (await http.get("/_control/stats")).json()["web_api_calls"]["by_client"]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            until = time.time_ns() // 1_000_000
            truth = {
                user: (await http.get(f"/_control/users/{user}/ground-truth")).json()["plays"]
                for user in users
            }
            results = {}
            for name, (_, events, client_id, spotify) in schedulers.items():
                await spotify.aclose()
                requests = calls.get(client_id, 0) - calls_before.get(client_id, 0)
                changes, session_starts, missed = detection_delays(
                    truth, events, since + int(WARMUP_S * 1000), until
                )
                results[name] = {
                    "users": len(users),
                    "seconds": round(wall, 1),
                    "requests_per_user_hour": round(requests / len(users) / (wall / 3600), 1),
                    "track_changes": len(changes),
                    "track_change_detection_p95_s": round(percentile(changes, 0.95) or 0, 2),
                    "track_change_detection_mean_s": round(
                        statistics.fmean(changes) if changes else 0, 2
                    ),
                    "session_starts": len(session_starts),
                    "session_start_detection_p95_s": round(
                        percentile(session_starts, 0.95) or 0, 2
                    ),
                    "plays_missed": missed,
                }
            return results["adaptive"], results["fixed_5s"]
    finally:
        fake.stop()


async def main() -> None:
    log(f"scale run: {SCALE_USERS} users for {SCALE_SECONDS:.0f} s")
    scale = await scale_run()
    log(json.dumps(scale))
    log(f"adaptive vs fixed: {COMPARE_USERS} simulated listeners for {COMPARE_SECONDS:.0f} s")
    adaptive, fixed = await compare_run()
    log(json.dumps({"adaptive": adaptive, "fixed": fixed}))
    ratio = {
        "requests_per_user_hour_adaptive_over_fixed": round(
            adaptive["requests_per_user_hour"] / max(1e-9, fixed["requests_per_user_hour"]), 3
        ),
        "track_change_detection_p95_adaptive_over_fixed": round(
            adaptive["track_change_detection_p95_s"]
            / max(1e-9, fixed["track_change_detection_p95_s"]),
            3,
        ),
        "schedule_lag_p99_ms_over_target_500": round(scale["schedule_lag_p99_ms"] / 500, 3),
    }
    print(
        json.dumps(
            {
                "bench": "watcher_schedule",
                "results": {"scale": scale, "adaptive": adaptive},
                "baseline": {"fixed_5s": fixed},
                "ratio": ratio,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
