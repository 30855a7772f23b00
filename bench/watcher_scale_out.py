"""Benchmark of watcher instances scaled out under one Spotify app's budget.

100,000 users (``--users``) connected on a connections topic of 12 partitions, watched by 4
watcher processes (``--instances``) of one consumer group that share one rate budget sized
for them, then by one process alone with the same users and budget (the same-run
baseline). Each process is the real watcher (Kafka ownership, the poll scheduler, the
transactional publisher and changelog, the budget share and the rate-pause topic) with
Spotify replaced by an in-process stand-in: players computed from the clock, a share of the
users (``--listening``) playing back to back and the rest idle. The Spotify fake serves
about 1,100 requests/s on a 2-core machine, short of what 100,000 users need.

Measured per process over a steady window: schedule lag p99, CPU per 1,000 users; for the
deployment: calls per second (the most in any 10 s window, across every process, counted
per second of CLOCK_MONOTONIC, which all processes share) against the budget. Then one of
the 4 is killed (SIGKILL) and the bench times how long the survivors take to own all its
users and spend the whole budget between them (most of it is Kafka noticing the death:
the session timeout; each partition's state is restored in the background, so the group
keeps every survivor through it), and how long until their schedule lag is back under
500 ms.

The budget is sized from the schedule: ``users * (listening / active_s + (1 - listening)
/ long_idle_s)`` calls per second, times ``--headroom``; see the README's sizing section.

Prints progress on stderr and one JSON line last. Needs Kafka at BACKBEAT_KAFKA_BOOTSTRAP
(default 127.0.0.1:9092); deletes the topics it created.

    python bench/watcher_scale_out.py [--users 100000] [--instances 4] [--measure-s 40]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import resource
import signal
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backbeat.events.cloudevents import to_kafka
from backbeat.events.connections import connection_event
from backbeat.events.playback import Artist, Device, Track
from backbeat.runtime.kafka import TopicSpec, create_producer, ensure_topics
from backbeat.runtime.testing import delete_run_topics, percentile
from backbeat.watcher.domain.schedule import PollIntervals
from backbeat.watcher.domain.snapshot import PlaybackSnapshot, RecentPlay
from backbeat.watcher.settings import WatcherSettings
from backbeat.watcher.testing import StaticAccessTokens, connected
from backbeat.watcher.workers.metrics import WatcherMetrics
from backbeat.watcher.workers.watcher import CONNECTIONS_PARTITIONS, Watcher

BOOTSTRAP = os.environ.get("BACKBEAT_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
SPOTIFY_APP = "bench-app"
# The production default: Kafka takes this long to notice a killed instance.
SESSION_TIMEOUT_MS = WatcherSettings().session_timeout_ms
LAG_TARGET_S = 0.5
WINDOW_S = 10
LOG_DIR = Path("test-output") / "processes"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def expected_calls_per_s(users: int, listening: float, intervals: PollIntervals) -> float:
    """Calls per second the schedule makes for ``users`` of whom ``listening`` play: each
    player every active interval, each idle one every long-idle interval (one request
    either way)."""
    return users * (listening / intervals.active_s + (1 - listening) / intervals.long_idle_s)


# -- one watcher process ---------------------------------------------------------------------


class StandInPlayers:
    """A cheap Spotify: the listening users play tracks back to back, the others nothing.
    Counts the calls it answers per second of CLOCK_MONOTONIC."""

    def __init__(self, users: int, listening: float) -> None:
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
        self.playing = [rng.random() < listening for _ in range(users)]
        self.calls_by_second: Counter[int] = Counter()

    def _count(self) -> None:
        self.calls_by_second[int(time.monotonic())] += 1

    async def playback(self, access_token: str) -> PlaybackSnapshot:
        self._count()
        index = int(access_token)
        now = time.time_ns() // 1_000_000
        if not self.playing[index]:
            return PlaybackSnapshot.nothing_playing(now)
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
        self._count()
        return []


class LagRecorder:
    """Stands in for the schedule-lag histogram to keep every sample, with its time."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []

    def observe(self, value: float) -> None:
        self.samples.append((time.monotonic(), value))


async def child(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = WatcherSettings.model_validate(
        {
            "kafka_bootstrap": BOOTSTRAP,
            "connections_topic": f"bench.scale.connections.{args.run}",
            "events_topic": f"bench.scale.events.{args.run}.{args.group}",
            "state_topic": f"bench.scale.state.{args.run}.{args.group}",
            "rate_pause_topic": f"bench.scale.rate-pauses.{args.run}.{args.group}",
            "consumer_group": f"bench-scale-{args.run}-{args.group}",
            "transactional_id_prefix": f"bench-scale-{args.run}-{args.group}",
            "events_partitions": 6,
            "rate_budget_per_s": args.budget,
            "rate_budget_burst": args.burst,
            "max_in_flight": 256,
            "session_timeout_ms": SESSION_TIMEOUT_MS,
        }
    )
    players = StandInPlayers(args.users, args.listening)
    metrics = WatcherMetrics()
    lag = LagRecorder()
    metrics.schedule_lag = lag  # type: ignore[assignment]
    watcher = Watcher(
        settings,
        reader=players,
        tokens=StaticAccessTokens({f"u{n}": str(n) for n in range(args.users)}),
        metrics=metrics,
        rng=random.Random(args.name),
    )
    await watcher.start()
    out = sys.stdout
    reported: Counter[int] = Counter()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    def report(line: dict[str, Any]) -> None:
        out.write(json.dumps(line) + "\n")
        out.flush()

    async def commands() -> None:
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := (await reader.readline()).decode().split():
            if line[0] == "lag":
                since, until = float(line[1]), float(line[2])
                window = [v for t, v in lag.samples if since <= t <= until]
                report(
                    {
                        "lag": {
                            "polls": len(window),
                            "p50_ms": round(1000 * percentile(window, 0.5), 1),
                            "p99_ms": round(1000 * percentile(window, 0.99), 1),
                            "max_ms": round(1000 * max(window, default=0.0), 1),
                        }
                    }
                )
        stop.set()

    listening = asyncio.create_task(commands())
    mark = 0
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            usage = resource.getrusage(resource.RUSAGE_SELF)
            current = int(time.monotonic())
            done = {s: n - reported[s] for s, n in players.calls_by_second.items() if s < current}
            reported.update(done)
            recent = [v for _, v in lag.samples[mark:]]
            mark = len(lag.samples)
            report(
                {
                    "t": time.monotonic(),
                    "cpu_s": usage.ru_utime + usage.ru_stime,
                    "calls": {str(s): n for s, n in done.items() if n},
                    "users": len(watcher.scheduler.users),
                    "share_per_s": watcher.budgets.share_rate_per_s,
                    "lag_p99_s": percentile(recent, 0.99),
                    "polls": len(recent),
                }
            )
    finally:
        listening.cancel()
        await watcher.stop()


# -- the bench -------------------------------------------------------------------------------


@dataclass
class Instance:
    name: str
    process: asyncio.subprocess.Process
    status: list[dict[str, Any]] = field(default_factory=list)
    replies: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    reader: asyncio.Task[None] | None = None

    @property
    def last(self) -> dict[str, Any]:
        return self.status[-1] if self.status else {}

    async def read(self, calls: Counter[int]) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            message = json.loads(line)
            if "t" in message:
                self.status.append(message)
                calls.update({int(s): n for s, n in message["calls"].items()})
            else:
                await self.replies.put(message)

    async def lag(self, since: float, until: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(f"lag {since} {until}\n".encode())
        await self.process.stdin.drain()
        reply = await asyncio.wait_for(self.replies.get(), 60)
        return dict(reply["lag"])

    def cpu_between(self, since: float, until: float) -> float:
        inside = [s for s in self.status if since <= s["t"] <= until]
        return (inside[-1]["cpu_s"] - inside[0]["cpu_s"]) / (inside[-1]["t"] - inside[0]["t"])

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)


async def start_instance(
    name: str, args: argparse.Namespace, run: str, group: str, budget: float, calls: Counter[int]
) -> Instance:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    logfile = (LOG_DIR / f"bench-scale-{run}-{name}.log").open("ab")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--child",
        "--name",
        name,
        "--run",
        run,
        "--group",
        group,
        "--users",
        str(args.users),
        "--listening",
        str(args.listening),
        "--budget",
        str(budget),
        "--burst",
        str(args.burst),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=logfile,
    )
    instance = Instance(name, process)
    instance.reader = asyncio.create_task(instance.read(calls))
    return instance


async def wait_for(condition: Any, timeout_s: float, what: str) -> float:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)
    return time.monotonic()


def owning(instances: list[Instance], users: int) -> bool:
    return sum(i.last.get("users", 0) for i in instances) == users


def settled(instances: list[Instance], users: int, since: float) -> bool:
    """Every user owned, and every instance's schedule lag under the target for 5 s."""
    if not owning(instances, users):
        return False
    for instance in instances:
        recent = [s for s in instance.status if s["t"] >= since][-5:]
        if len(recent) < 5 or any(s["lag_p99_s"] > LAG_TARGET_S for s in recent):
            return False
    return True


def calls_per_s(calls: Counter[int], since: float, until: float) -> tuple[float, float]:
    """(mean, the most in any ``WINDOW_S`` window) over the whole seconds in [since, until]."""
    seconds = list(range(int(since) + 1, int(until)))
    per = [calls.get(s, 0) for s in seconds]
    windows = [sum(per[i : i + WINDOW_S]) / WINDOW_S for i in range(len(per) - WINDOW_S + 1)]
    return sum(per) / max(1, len(per)), max(windows, default=0.0)


async def deployment(
    args: argparse.Namespace, run: str, group: str, count: int, budget: float
) -> dict[str, Any]:
    calls: Counter[int] = Counter()
    instances = [
        await start_instance(f"{group}-{n}", args, run, group, budget, calls) for n in range(count)
    ]
    try:
        started = time.monotonic()
        ready = await wait_for(lambda: owning(instances, args.users), 300, "every user owned")
        log(f"{group}: {count} process(es) own every user after {ready - started:.0f} s")
        # Until every idle user has been polled twice, so the measured window holds the
        # schedule's steady mix and not only the players of the first minutes, and the first
        # polls' backlog is worked off (lag under the target for 5 s; measured anyway after
        # the timeout).
        await asyncio.sleep(max(0.0, started + args.warmup_s - time.monotonic()))
        with contextlib.suppress(RuntimeError):
            await wait_for(
                lambda: settled(instances, args.users, started),
                args.settle_timeout_s,
                "the schedule lag to settle",
            )
        since = time.monotonic()
        await asyncio.sleep(args.measure_s)
        until = time.monotonic()
        mean, most = calls_per_s(calls, since, until)
        processes = []
        for instance in instances:
            cpu = instance.cpu_between(since, until)
            owned = instance.last["users"]
            processes.append(
                {
                    "users": owned,
                    "share_per_s": round(instance.last["share_per_s"], 1),
                    "schedule_lag": await instance.lag(since, until),
                    "polls_per_s": round(
                        sum(s["polls"] for s in instance.status if since < s["t"] <= until)
                        / (until - since),
                        1,
                    ),
                    "cpu_cores": round(cpu, 3),
                    "cpu_cores_per_1000_users": round(cpu / (owned / 1000), 4),
                }
            )
        result: dict[str, Any] = {
            "processes": processes,
            "users_owned_after_s": round(ready - started, 1),
            "warmup_s": round(since - started, 1),
            "measured_s": round(until - since, 1),
            "calls_per_s_mean": round(mean, 1),
            f"calls_per_s_max_{WINDOW_S}s": round(most, 1),
            "schedule_lag_p99_ms_worst_process": max(
                p["schedule_lag"]["p99_ms"] for p in processes
            ),
            "cpu_cores_total": round(sum(p["cpu_cores"] for p in processes), 3),
        }
        log(f"{group}: {json.dumps(result)}")
        if count > 1:
            try:
                result["takeover"] = await takeover(args, instances, calls, budget)
            except RuntimeError as failed:
                result["takeover"] = {"failed": str(failed)}
        return result
    finally:
        for instance in instances:
            await instance.stop()


async def takeover(
    args: argparse.Namespace, instances: list[Instance], calls: Counter[int], budget: float
) -> dict[str, Any]:
    doomed, *survivors = instances
    lost = doomed.last["users"]
    doomed.process.kill()
    killed = time.monotonic()
    log(f"killed {doomed.name} ({lost} users)")
    owned = await wait_for(
        lambda: sum(s.last.get("users", 0) for s in survivors) == args.users, 120, "users"
    )
    shared = await wait_for(
        lambda: sum(s.last.get("share_per_s", 0.0) for s in survivors) >= budget * 0.999,
        120,
        "budget",
    )
    try:
        caught_up: float | None = await wait_for(
            lambda: settled(survivors, args.users, max(owned, shared)), 240, "lag"
        )
    except RuntimeError:
        caught_up = None
    after = time.monotonic()
    await asyncio.sleep(args.after_s)
    end = time.monotonic()
    _, most_during = calls_per_s(calls, killed - WINDOW_S, after)
    mean_after, most_after = calls_per_s(calls, after, end)
    return {
        "users_moved": lost,
        "session_timeout_s": SESSION_TIMEOUT_MS / 1000,
        "users_taken_over_s": round(owned - killed, 1),
        "budget_taken_over_s": round(shared - killed, 1),
        # A moved user is first polled where its schedule left off (restored state), those
        # overdue after the death spread over their tier's interval: the survivors' rate
        # rises by the dead one's share, not to the whole budget at once.
        "schedule_lag_back_under_500ms_s": (
            None if caught_up is None else round(caught_up - killed, 1)
        ),
        f"calls_per_s_max_{WINDOW_S}s_during_takeover": round(most_during, 1),
        "calls_per_s_mean_after": round(mean_after, 1),
        f"calls_per_s_max_{WINDOW_S}s_after": round(most_after, 1),
        "schedule_lag_p99_ms_after": [(await s.lag(after, end))["p99_ms"] for s in survivors],
    }


async def publish_users(run: str, users: int) -> None:
    topic = f"bench.scale.connections.{run}"
    await ensure_topics(
        BOOTSTRAP, [TopicSpec(topic, partitions=CONNECTIONS_PARTITIONS, compacted=True)]
    )
    producer = create_producer(BOOTSTRAP, client_id="bench-scale-out", linger_ms=20)
    await producer.start()
    since = datetime.now(UTC)
    try:
        for start in range(0, users, 5_000):
            sent = []
            for n in range(start, min(users, start + 5_000)):
                key, value, headers = to_kafka(
                    connection_event(connected(f"u{n}", since, SPOTIFY_APP))
                )
                sent.append(await producer.send(topic, value, key=key, headers=headers))
            await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def main(args: argparse.Namespace) -> None:
    run = uuid.uuid4().hex[:8]
    intervals = PollIntervals()
    expected = expected_calls_per_s(args.users, args.listening, intervals)
    budget = round(expected * args.headroom)
    load_before = os.getloadavg()
    log(
        f"{args.users} users, {args.listening:.0%} listening: ~{expected:.0f} calls/s expected, "
        f"budget {budget}/s; publishing connections"
    )
    try:
        await publish_users(run, args.users)
        scaled = await deployment(args, run, "scaled", args.instances, budget)
        log(json.dumps(scaled))
        single = await deployment(args, run, "single", 1, budget)
        log(json.dumps(single))
    finally:
        await delete_run_topics(BOOTSTRAP, run)
    load_after = os.getloadavg()
    worst = scaled["schedule_lag_p99_ms_worst_process"]
    print(
        json.dumps(
            {
                "bench": "watcher_scale_out",
                "setup": {
                    "users": args.users,
                    "instances": args.instances,
                    "partitions": CONNECTIONS_PARTITIONS,
                    "listening_share": args.listening,
                    "spotify": "in-process stand-in in each watcher process (players "
                    "computed from the clock); the Spotify fake cannot serve this rate",
                    "active_interval_s": intervals.active_s,
                    "long_idle_interval_s": intervals.long_idle_s,
                    "expected_calls_per_s": round(expected, 1),
                    "budget_per_s": budget,
                    "budget_burst": args.burst,
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in load_after],
                },
                "results": scaled,
                "baseline": {"one_process": single},
                "ratio": {
                    "schedule_lag_p99_worst_process_over_target_500ms": round(
                        worst / (LAG_TARGET_S * 1000), 3
                    ),
                    f"calls_per_s_max_{WINDOW_S}s_over_budget": round(
                        scaled[f"calls_per_s_max_{WINDOW_S}s"] / budget, 3
                    ),
                    "schedule_lag_p99_scaled_over_one_process": round(
                        worst / max(0.1, single["schedule_lag_p99_ms_worst_process"]), 3
                    ),
                    "cpu_cores_total_scaled_over_one_process": round(
                        scaled["cpu_cores_total"] / max(1e-9, single["cpu_cores_total"]), 3
                    ),
                },
            }
        )
    )


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--instances", type=int, default=4)
    parser.add_argument("--listening", type=float, default=0.1, help="share of users playing")
    parser.add_argument("--headroom", type=float, default=1.5, help="budget over expected")
    parser.add_argument("--burst", type=float, default=100.0)
    parser.add_argument("--measure-s", type=float, default=40.0)
    parser.add_argument("--after-s", type=float, default=20.0)
    parser.add_argument(
        "--warmup-s",
        type=float,
        # Past the idle users' second round: their first polls all fell in the first
        # seconds, their second ones anywhere in the long-idle interval after (see
        # `after_first_look_delay`), so from then on the window holds the steady mix.
        default=PollIntervals().long_idle_s * 1.8,
        help="from the start to the measured window",
    )
    parser.add_argument("--settle-timeout-s", type=float, default=240.0)
    # One watcher process of the bench (started by the bench itself).
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--name", default="", help=argparse.SUPPRESS)
    parser.add_argument("--run", default="", help=argparse.SUPPRESS)
    parser.add_argument("--group", default="", help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, default=0.0, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse()
    asyncio.run(child(arguments) if arguments.child else main(arguments))
