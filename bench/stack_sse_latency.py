"""End-to-end delay from a playback change at the Spotify fake to the SSE message a browser
receives through the gateway, at 1,000 users, with every service running as its own process.

Every user signs up and connects Spotify through the gateway, opens its live stream through the
gateway and starts playing (warm-up, not measured: an idle player is polled slowly). Then, per
round, every user's player changes track at the fake and the bench waits for each user's stream
to show the new track; the delay is from the moment the fake accepted the change to the moment
the frame was read off the socket. Baseline, same run, same open streams: one event per user
published straight onto playback.events (no fake, no watcher: the cost of the pipeline behind
the watcher); the difference is what polling Spotify costs, bounded by the watcher's active
interval (5 s).

The streams are read by separate client processes over raw sockets (HTTP/1.1, chunked), so the
measuring side is not the bottleneck; times on both sides are CLOCK_MONOTONIC, which every
process of the machine shares. CPU seconds each process used during the measured rounds are
reported too. Prints progress on stderr and one JSON line last; loopback only.

    python bench/stack_sse_latency.py [--users 1000] [--changes 2] [--clients 2]

Uses BACKBEAT_KAFKA_BOOTSTRAP and the *_test databases (`make infra` starts both). The watcher's
per-app rate budget is raised to let one Spotify app poll 1,000 players every 5 s (about 200
requests/s, more than a default Spotify quota allows), and the gateway's per-address limits are
raised because every simulated browser shares one loopback address.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backbeat.events.cloudevents import to_kafka
from backbeat.events.playback import PlaybackEventData, PlaybackEventKind, playback_event
from backbeat.runtime.kafka import create_producer
from backbeat.runtime.testing import EventStreamSocket, percentile
from backbeat.watcher.settings import WatcherSettings
from tests.conftest import test_database_url
from tests.e2e.full_stack import full_stack
from tests.gateway.stack import Account, connect_spotify, sign_up

KAFKA = os.environ.get("BACKBEAT_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
ACTIVE_INTERVAL_S = 5.0
WATCHER = {
    "ACTIVE_INTERVAL_S": str(ACTIVE_INTERVAL_S),
    "RATE_BUDGET_PER_S": "1000",
    "RATE_BUDGET_BURST": "1000",
    "LOG_LEVEL": "WARNING",
}
GATEWAY = {
    "ADDRESS_RATE_PER_S": "100000",
    "ADDRESS_BURST": "100000",
    "PASSWORD_RATE_PER_S": "100000",
    "PASSWORD_BURST": "100000",
    "LOG_LEVEL": "WARNING",
}


def now() -> float:
    """CLOCK_MONOTONIC on Linux: one clock for every process of the machine."""
    return time.monotonic()


def summary(delays_ms: list[float]) -> dict[str, float | int]:
    return {
        "received": len(delays_ms),
        "p50_ms": round(percentile(delays_ms, 0.5), 1),
        "p95_ms": round(percentile(delays_ms, 0.95), 1),
        "p99_ms": round(percentile(delays_ms, 0.99), 1),
        "max_ms": round(max(delays_ms, default=0.0), 1),
    }


# --- the stream clients (separate processes) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    """What a client noted of one SSE frame: whose, when, and what it named."""

    user: int
    at: float
    event_id: str
    track_id: str | None


OPENED = "(stream opened)"


class RawStream:
    """One user's stream through the gateway over a raw socket."""

    def __init__(self, port: int, user: int, token: str, frames: list[Frame]) -> None:
        self.user = user
        self.frames = frames
        self.stream = EventStreamSocket(port, "/api/playback/stream", token)

    async def open(self) -> None:
        await self.stream.open()
        self.frames.append(Frame(self.user, now(), OPENED, None))

    async def read(self) -> None:
        async for frames in self.stream.frames():
            received = now()
            for frame in frames:
                self.note(frame, received)

    def note(self, frame: bytes, received: float) -> None:
        for line in frame.split(b"\n"):
            if line.startswith(b"data: "):
                event = orjson.loads(line[6:])
                if not isinstance(event, dict):
                    continue
                data = event.get("data") if isinstance(event.get("data"), dict) else {}
                track = data.get("track") if isinstance(data.get("track"), dict) else {}
                self.frames.append(Frame(self.user, received, event.get("id", ""), track.get("id")))


def stream_client(connection: Connection, port: int, users: list[tuple[int, str]]) -> None:
    """A client process: opens ``users``' streams, then answers the bench's requests."""
    asyncio.run(_stream_client(connection, port, users))


async def _stream_client(connection: Connection, port: int, users: list[tuple[int, str]]) -> None:
    frames: list[Frame] = []
    streams = [RawStream(port, user, token, frames) for user, token in users]
    opening = asyncio.Semaphore(50)
    failures: list[str] = []

    async def open_and_read(stream: RawStream) -> None:
        async with opening:
            try:
                await stream.open()
            except (OSError, RuntimeError) as error:
                failures.append(f"user {stream.user}: {error}")
                return
        await stream.read()

    readers = [asyncio.create_task(open_and_read(stream)) for stream in streams]
    while True:
        request = await asyncio.to_thread(connection.recv)
        if request == "frames":
            taken, frames[:] = list(frames), []
            connection.send(([(f.user, f.at, f.event_id, f.track_id) for f in taken], failures))
        elif request == "stop":
            for reader in readers:
                reader.cancel()
            connection.send("stopped")
            return


class Clients:
    """The bench's side of the client processes: every frame they noted, by user."""

    def __init__(self, port: int, tokens: list[str], processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.frames: dict[int, list[Frame]] = {user: [] for user in range(len(tokens))}
        self.failures: list[str] = []
        self.pipes: list[Connection] = []
        self.processes = []
        indexed = list(enumerate(tokens))
        for n in range(processes):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=stream_client, args=(theirs, port, indexed[n::processes]), daemon=True
            )
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)

    async def collect(self) -> None:
        for pipe in self.pipes:
            pipe.send("frames")
        for pipe in self.pipes:
            frames, failures = await asyncio.to_thread(pipe.recv)
            for user, at, event_id, track_id in frames:
                self.frames[user].append(Frame(user, at, event_id, track_id))
            self.failures = sorted(set(self.failures) | set(failures))

    def first(self, user: int, after: float, *, track: str | None = None, event: str = "") -> float:
        for frame in self.frames[user]:
            if frame.at >= after and (
                (track is not None and frame.track_id == track)
                or (event and frame.event_id == event)
            ):
                return frame.at
        return -1.0

    def open_streams(self) -> int:
        """Streams the gateway answered with 200 and a stream."""
        return sum(1 for user in self.frames if self.first(user, 0.0, event=OPENED) >= 0)

    def stop(self) -> None:
        for pipe in self.pipes:
            pipe.send("stop")
            pipe.recv()
        for process in self.processes:
            process.join(timeout=10)


# --- the bench -------------------------------------------------------------------------------


def progress(message: str) -> None:
    print(f"[stack_sse_latency] {message}", file=sys.stderr, flush=True)


def set_up_users(gateway: str, fake: str, users: int) -> tuple[list[Account], list[str]]:
    """Signs up and connects ``users`` listeners through the gateway, eight at a time (one
    keep-alive client per worker)."""
    local = threading.local()
    clients: list[httpx.Client] = []

    def one(_: int) -> tuple[Account, str]:
        if not hasattr(local, "http"):
            local.http = httpx.Client(timeout=30)
            clients.append(local.http)
        account = sign_up(gateway, http=local.http)
        return account, connect_spotify(gateway, fake, account, http=local.http)

    done: list[tuple[Account, str]] = []
    started = now()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            for pair in pool.map(one, range(users)):
                done.append(pair)
                if len(done) % 100 == 0 or len(done) == users:
                    elapsed = now() - started
                    progress(f"{len(done)}/{users} users signed up and connected ({elapsed:.0f} s)")
    finally:
        for client in clients:
            client.close()
    return [a for a, _ in done], [s for _, s in done]


async def play_everyone(
    spotify: httpx.AsyncClient, players: Iterable[str], track: str
) -> list[float]:
    """Puts a track on every player at the fake; when each change was accepted."""
    accepted: list[float] = []
    for player in players:
        answer = await spotify.put(
            f"/_control/users/{player}/playback",
            json={"track_id": track, "is_playing": True, "progress_ms": 0},
        )
        answer.raise_for_status()
        accepted.append(now())
    return accepted


async def wait_for(
    clients: Clients, what: str, users: int, arrived: Callable[[int], float], timeout_s: float
) -> None:
    """Collects frames until ``arrived(user)`` is set for every user or time runs out."""
    deadline = now() + timeout_s
    while True:
        await asyncio.sleep(2)
        await clients.collect()
        count = sum(1 for user in range(users) if arrived(user) >= 0)
        progress(f"{what}: {count}/{users}")
        if count == users or now() > deadline:
            return


async def watcher_counters(url: str) -> dict[str, float]:
    """Polls made and their summed schedule lag, from the watcher's Prometheus metrics."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{url}/metrics")).text
    counters = {"polls": 0.0, "lag_sum_s": 0.0}
    for line in text.splitlines():
        if line.startswith("watcher_polls_total{"):
            counters["polls"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("watcher_schedule_lag_seconds_sum "):
            counters["lag_sum_s"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("watcher_schedule_lag_seconds_count "):
            counters["lag_count"] = float(line.rsplit(" ", 1)[1])
    return counters


def kafka_pid() -> int | None:
    """The broker `make infra` started, if it did."""
    pid_file = Path(__file__).resolve().parents[1] / "var" / "run" / "kafka.pid"
    return int(pid_file.read_text()) if pid_file.exists() else None


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(users: int, changes: int, client_processes: int, in_flight: int) -> dict[str, object]:
    databases = {name: test_database_url(name) for name in ("auth", "tokens", "playback")}
    watcher = {**WATCHER, "MAX_IN_FLIGHT": str(in_flight)}
    # Starting the stack migrates the databases, which runs its own event loop: a thread.
    running = full_stack(databases, KAFKA, watcher_settings=watcher, gateway_settings=GATEWAY)
    stack = await asyncio.to_thread(running.__enter__)
    clients: Clients | None = None
    try:
        gateway, fake = stack.gateway.url, stack.fake.url
        accounts, players = await asyncio.to_thread(set_up_users, gateway, fake, users)
        clients = Clients(stack.gateway.port, [a.access_token for a in accounts], client_processes)
        async with httpx.AsyncClient(base_url=fake, timeout=30) as spotify:
            catalogue = (await spotify.get("/_control/catalog", params={"limit": 500})).json()
            # The longest tracks, so that no player runs out (and goes idle) during the bench.
            by_length = sorted(catalogue["items"], key=lambda t: t["duration_ms"], reverse=True)
            tracks = [item["id"] for item in by_length[: changes + 1]]
            started = now()
            while clients.open_streams() + len(clients.failures) < users:
                if now() - started > 120:
                    break
                await asyncio.sleep(1)
                await clients.collect()
            streams_open, refusals = clients.open_streams(), clients.failures
            progress(f"{streams_open}/{users} streams open, {len(refusals)} refused")
            for refusal in refusals[:5]:
                progress(f"refused: {refusal}")
            # Warm-up (not measured): every player starts; idle ones are polled up to 60 s apart.
            warm_track = tracks[changes]
            begun = now()
            await play_everyone(spotify, players, warm_track)
            await wait_for(
                clients, "warm-up", users, lambda u: clients.first(u, begun, track=warm_track), 150
            )
            processes = {p.name: p.process.pid for p in stack.processes if p.process}
            processes["bench"] = os.getpid()
            if (broker := kafka_pid()) is not None:
                processes["kafka"] = broker
            for n, client in enumerate(clients.processes):
                processes[f"bench-stream-client-{n + 1}"] = client.pid
            cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
            watcher_url = next(p.url for p in stack.processes if p.module == "backbeat.watcher")
            watcher_before = await watcher_counters(watcher_url)
            measured_from = now()
            delays: list[float] = []
            for round_ in range(changes):
                track = tracks[round_]
                accepted = await play_everyone(spotify, players, track)
                await wait_for(
                    clients,
                    f"round {round_ + 1}/{changes}",
                    users,
                    lambda u, t=track, a=accepted: clients.first(u, a[u], track=t),
                    ACTIVE_INTERVAL_S * 4,
                )
                for user, at in enumerate(accepted):
                    arrived = clients.first(user, at, track=track)
                    if arrived >= 0:
                        delays.append((arrived - at) * 1000)
            measured_s = now() - measured_from
            watcher_after = await watcher_counters(watcher_url)
            polls = watcher_after["polls"] - watcher_before["polls"]
            lagged = watcher_after["lag_count"] - watcher_before["lag_count"]
            lag_sum = watcher_after["lag_sum_s"] - watcher_before["lag_sum_s"]
            cpu = {
                name: round((cpu_seconds(pid) - cpu_before[name]) / measured_s, 2)
                for name, pid in processes.items()
            }
            direct = await publish_directly(stack.events_topic, accounts, clients)
            playback = next(p.url for p in stack.processes if p.module == "backbeat.playback")
            now_playing = await read_now_playing(gateway, playback, accounts)
    finally:
        if clients is not None:
            clients.stop()
        await asyncio.to_thread(running.__exit__, None, None, None)
    expected = users * changes
    return {
        "bench": "stack_sse_latency",
        "results": {
            "users": users,
            "streams_open": streams_open,
            "streams_refused": len(refusals),
            "changes": expected,
            **summary(delays),
            "lost": expected - len(delays),
            "watcher_active_interval_s": ACTIVE_INTERVAL_S,
            "watcher_max_in_flight": in_flight,
            "watcher_polls_per_s": round(polls / measured_s, 1),
            "watcher_mean_schedule_lag_ms": round(1000 * lag_sum / max(lagged, 1), 1),
            "cores_used_while_measured": cpu,
        },
        "baseline": {"direct_publish": users, **summary(direct)},
        "ratio": {
            "p50": round(percentile(delays, 0.5) / max(percentile(direct, 0.5), 0.001), 1),
            "p99": round(percentile(delays, 0.99) / max(percentile(direct, 0.99), 0.001), 1),
        },
        # GET /api/playback/now while every stream is still open: through the gateway, and
        # straight to playback (the baseline), interleaved.
        "now_playing_with_streams_open": now_playing,
    }


async def publish_directly(topic: str, accounts: list[Account], clients: Clients) -> list[float]:
    """One event per user straight onto the topic; the delay to each user's stream."""
    producer = create_producer(KAFKA, client_id="bench-stack-sse", linger_ms=0)
    await producer.start()
    marker = f"direct-{uuid.uuid4().hex[:6]}"
    sent_at: list[float] = []
    try:
        for n, account in enumerate(accounts):
            data = PlaybackEventData(
                kind=PlaybackEventKind.SEEKED,
                user_id=account.user_id,
                sequence=1_000_000 + n,
                track=None,
                progress_ms=1,
                is_playing=True,
                observed_at=datetime.now(UTC),
            )
            key, value, headers = to_kafka(playback_event(data, event_id=f"{marker}-{n}"))
            sent_at.append(now())
            await producer.send(topic, key=key, value=value, headers=headers)
            if n % 100 == 99:
                await asyncio.sleep(0.1)  # 1,000 events/s, as bench/playback_sse.py
        await producer.flush()
    finally:
        await producer.stop()
    users = len(accounts)
    await wait_for(
        clients, "direct", users, lambda u: clients.first(u, sent_at[u], event=f"{marker}-{u}"), 20
    )
    return [
        (arrived - sent_at[u]) * 1000
        for u in range(users)
        if (arrived := clients.first(u, sent_at[u], event=f"{marker}-{u}")) >= 0
    ]


async def read_now_playing(
    gateway: str, playback: str, accounts: list[Account]
) -> dict[str, object]:
    """Each user reads its now playing once through the gateway and once straight from
    playback, sequentially, over kept-alive connections."""
    through: list[float] = []
    straight: list[float] = []
    async with (
        httpx.AsyncClient(base_url=gateway, timeout=30) as via_gateway,
        httpx.AsyncClient(base_url=playback, timeout=30) as direct,
    ):
        for account in accounts:
            for client, samples in ((via_gateway, through), (direct, straight)):
                started = now()
                answer = await client.get("/api/playback/now", headers=account.headers)
                samples.append((now() - started) * 1000)
                if answer.status_code not in (200, 204):
                    raise RuntimeError(f"now playing answered {answer.status_code}")
    return {
        "requests_each_way": len(accounts),
        "gateway_p50_ms": round(percentile(through, 0.5), 1),
        "gateway_p99_ms": round(percentile(through, 0.99), 1),
        "direct_p50_ms": round(percentile(straight, 0.5), 1),
        "direct_p99_ms": round(percentile(straight, 0.99), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--changes", type=int, default=2, help="track changes per user")
    parser.add_argument("--clients", type=int, default=2, help="stream client processes")
    parser.add_argument(
        "--in-flight", type=int, default=WatcherSettings().max_in_flight, help="watcher's polls"
    )
    args = parser.parse_args()
    figures = asyncio.run(run(args.users, args.changes, args.clients, args.in_flight))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
