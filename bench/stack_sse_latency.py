"""Attention-driven polling, end to end: how soon a change at the Spotify fake reaches the
browser of a user whose page is open, how soon it reaches playback.events for everyone else,
and what Spotify requests that costs, at 1,000 users with every service as its own process.

A share of the users (``--viewed``, 10%) open their live stream through the gateway; the
watcher hears it from playback's presence topic and polls them fast. Another share
(``--unviewed-playing``) play with no page open; the rest never play (idle). Per mode:

- warm-up (not measured): the viewed and the unviewed players start a track;
- rounds (at least ``--changes``, until ``--window`` seconds have passed): every playing
  user's player changes track at the fake; the delay to the viewed users' SSE frame
  (``watched_*``) and to the unviewed users' event on playback.events (``unwatched_*``);
- session start: the viewed players stop (the stream shows it), then press play: the delay
  to the SSE frame (``watched_session_start_*``);
- Spotify requests per user and hour over the measured time, from the fake's own counts: all
  users, and the idle ones alone.

The same run then restarts the watcher with the fixed schedule (every user every 5 s, no
attention) and measures the same again: the ``baseline``.

The streams are read by separate client processes over raw sockets (HTTP/1.1, chunked); times
on both sides are CLOCK_MONOTONIC, which every process of the machine shares. Prints progress
on stderr and one JSON line last; loopback only.

    python bench/stack_sse_latency.py [--users 1000] [--viewed 0.1] [--changes 2]

Uses BACKBEAT_KAFKA_BOOTSTRAP and the *_test databases (`make infra` starts both). The watcher's
per-app rate budget is raised to let one Spotify app poll 1,000 players every 5 s (the fixed
baseline: about 200 requests/s, more than a default Spotify quota allows), and the gateway's
per-address limits are raised because every simulated browser shares one loopback address.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from backbeat.events.cloudevents import MalformedEvent, from_kafka
from backbeat.events.playback import PlaybackEventData
from backbeat.runtime.testing import EventStreamSocket, ServiceProcess, free_port, percentile
from backbeat.watcher.settings import WatcherSettings
from tests.conftest import test_database_url
from tests.e2e.full_stack import FullStack, full_stack
from tests.gateway.stack import PASSWORD, Account, connect_spotify, sign_up

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


def summary(name: str, delays_ms: list[float]) -> dict[str, float | int]:
    return {
        f"{name}_received": len(delays_ms),
        f"{name}_p50_ms": round(percentile(delays_ms, 0.5), 1),
        f"{name}_p95_ms": round(percentile(delays_ms, 0.95), 1),
        f"{name}_p99_ms": round(percentile(delays_ms, 0.99), 1),
        f"{name}_max_ms": round(max(delays_ms, default=0.0), 1),
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

    def any_after(self, user: int, after: float) -> float:
        """When the first frame after ``after`` arrived (-1: none yet)."""
        for frame in self.frames[user]:
            if frame.at >= after and frame.event_id != OPENED:
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
        for attempt in range(3):
            try:
                return account, connect_spotify(gateway, fake, account, http=local.http)
            except (AssertionError, httpx.HTTPError) as refused:  # a loaded machine, now and then
                progress(f"connecting Spotify failed (attempt {attempt + 1}): {refused!r}")
        raise RuntimeError("connecting Spotify failed three times")

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


async def put_players(
    spotify: httpx.AsyncClient, players: Iterable[str], track: str | None
) -> list[float]:
    """Puts ``track`` on each player at the fake (None: stops it); when each was accepted."""
    accepted: list[float] = []
    body: dict[str, Any] = {"track_id": track}
    if track is not None:
        body |= {"is_playing": True, "progress_ms": 0}
    for player in players:
        answer = await spotify.put(f"/_control/users/{player}/playback", json=body)
        answer.raise_for_status()
        accepted.append(now())
    return accepted


class EventsTail:
    """Every event on playback.events from when it starts: when each user's first event
    naming each track arrived."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.arrived: dict[tuple[str, str], float] = {}
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=KAFKA, group_id=None, isolation_level="read_committed"
        )
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
        await admin.start()
        try:
            (described,) = await admin.describe_topics([self.topic])
        finally:
            await admin.close()
        partitions = [TopicPartition(self.topic, p["partition"]) for p in described["partitions"]]
        if not partitions:
            raise RuntimeError(f"{self.topic} has no partitions")
        await self.consumer.start()
        self.consumer.assign(partitions)
        await self.consumer.seek_to_end(*partitions)
        for partition in partitions:
            await self.consumer.position(partition)
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=500, max_records=5_000)
            received = now()
            for records in batches.values():
                for record in records:
                    try:
                        event = from_kafka(
                            record.key, record.value, record.headers, PlaybackEventData
                        )
                    except MalformedEvent:
                        continue
                    if event.data.track is not None:
                        self.arrived.setdefault((event.subject, event.data.track.id), received)

    def first(self, user_id: str, track: str, after: float) -> float:
        at = self.arrived.get((user_id, track), -1.0)
        return at if at >= after else -1.0

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.consumer.stop()


async def wait_until(
    what: str, pending: Callable[[], int], total: int, timeout_s: float, clients: Clients
) -> None:
    """Collects frames until nothing is pending or time runs out."""
    deadline = now() + timeout_s
    while True:
        await asyncio.sleep(0.5)
        await clients.collect()
        left = pending()
        if left == 0 or now() > deadline:
            progress(f"{what}: {total - left}/{total}")
            return


async def fake_requests_by_user(spotify: httpx.AsyncClient) -> dict[str, int]:
    """Web API calls the fake answered so far, per Spotify user."""
    stats = (await spotify.get("/_control/stats")).json()
    return {user: int(n) for user, n in stats["web_api_calls"]["by_user"].items()}


@dataclass
class Population:
    accounts: list[Account]
    players: list[str]
    viewed: range
    unviewed_playing: range
    idle: range


async def measure_mode(
    mode: str,
    people: Population,
    clients: Clients,
    events: EventsTail,
    spotify: httpx.AsyncClient,
    tracks: Iterator[str],
    *,
    changes: int,
    window_s: float,
    warm_up_s: float,
) -> dict[str, Any]:
    """One schedule's figures: warm-up, change rounds, a session start, and the requests."""
    players, accounts = people.players, people.accounts
    viewed, playing = list(people.viewed), list(people.unviewed_playing)
    active = viewed + playing

    async def put(users: list[int], track: str | None) -> dict[int, float]:
        accepted = await put_players(spotify, [players[u] for u in users], track)
        return dict(zip(users, accepted, strict=True))

    def pending_viewed(track: str, accepted: dict[int, float]) -> int:
        return sum(1 for u in viewed if clients.first(u, accepted[u], track=track) < 0)

    def pending_unviewed(track: str, accepted: dict[int, float]) -> int:
        return sum(1 for u in playing if events.first(accounts[u].user_id, track, accepted[u]) < 0)

    warm = next(tracks)
    accepted = await put(active, warm)
    await wait_until(
        f"{mode}: warm-up",
        lambda: pending_viewed(warm, accepted) + pending_unviewed(warm, accepted),
        len(active),
        warm_up_s,
        clients,
    )
    before = await fake_requests_by_user(spotify)
    measured_from = now()
    watched: list[float] = []
    unwatched: list[float] = []
    lost = {"watched": 0, "unwatched": 0, "watched_session_start": 0}
    rounds = 0
    while rounds < changes or now() - measured_from < window_s:
        rounds += 1
        track = next(tracks)
        changed = await put(active, track)
        await wait_until(
            f"{mode}: round {rounds}",
            lambda t=track, a=changed: pending_viewed(t, a) + pending_unviewed(t, a),  # type: ignore[misc]
            len(active),
            ACTIVE_INTERVAL_S * 4,
            clients,
        )
        for u in viewed:
            at = clients.first(u, changed[u], track=track)
            if at >= 0:
                watched.append((at - changed[u]) * 1000)
            else:
                lost["watched"] += 1
        for u in playing:
            at = events.first(accounts[u].user_id, track, changed[u])
            if at >= 0:
                unwatched.append((at - changed[u]) * 1000)
            else:
                lost["unwatched"] += 1
        await asyncio.sleep(3)  # a little listening between changes, as people do
    # Session start: the viewed players stop (their streams show it), then play again.
    stopped = await put(viewed, None)
    await wait_until(
        f"{mode}: viewed players stopped",
        lambda: sum(1 for u in viewed if clients.any_after(u, stopped[u]) < 0),
        len(viewed),
        ACTIVE_INTERVAL_S * 4,
        clients,
    )
    session = next(tracks)
    started = await put(viewed, session)
    await wait_until(
        f"{mode}: sessions started",
        lambda: pending_viewed(session, started),
        len(viewed),
        ACTIVE_INTERVAL_S * 4,
        clients,
    )
    session_starts: list[float] = []
    for u in viewed:
        at = clients.first(u, started[u], track=session)
        if at >= 0:
            session_starts.append((at - started[u]) * 1000)
        else:
            lost["watched_session_start"] += 1
    measured_s = now() - measured_from
    after = await fake_requests_by_user(spotify)
    hours = measured_s / 3600

    def per_user_hour(group: Iterable[int]) -> float:
        ids = [players[u] for u in group]
        spent = sum(after.get(p, 0) - before.get(p, 0) for p in ids)
        return round(spent / max(len(ids), 1) / hours, 1)

    return {
        "watched_p99_ms": round(percentile(watched, 0.99), 1),
        "watched_session_start_p95_ms": round(percentile(session_starts, 0.95), 1),
        "unwatched_p99_ms": round(percentile(unwatched, 0.99), 1),
        "spotify_requests_per_user_hour": per_user_hour(range(len(players))),
        "idle_requests_per_user_hour": per_user_hour(people.idle),
        "watched_requests_per_user_hour": per_user_hour(people.viewed),
        "unwatched_playing_requests_per_user_hour": per_user_hour(people.unviewed_playing),
        **summary("watched", watched),
        **summary("watched_session_start", session_starts),
        **summary("unwatched", unwatched),
        "lost": sum(lost.values()),
        "lost_by_kind": lost,
        "rounds": rounds,
        "measured_s": round(measured_s, 1),
    }


async def open_streams(
    gateway: str, port: int, people: Population, processes: int
) -> tuple[Clients, int, list[str]]:
    """The viewed users sign in afresh and open their streams (the first users, so that the
    clients' indexes are theirs); how many opened and the refusals."""

    def sign_in(account: Account) -> str:
        with httpx.Client(timeout=30) as http:
            answer = http.post(
                f"{gateway}/api/auth/login", json={"email": account.email, "password": PASSWORD}
            )
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        tokens = list(pool.map(sign_in, [people.accounts[u] for u in people.viewed]))
    clients = Clients(port, tokens, processes)
    started = now()
    while clients.open_streams() + len(clients.failures) < len(tokens):
        if now() - started > 120:
            break
        await asyncio.sleep(1)
        await clients.collect()
    streams_open, refusals = clients.open_streams(), clients.failures
    progress(f"{streams_open}/{len(tokens)} streams open, {len(refusals)} refused")
    for refusal in refusals[:5]:
        progress(f"refused: {refusal}")
    return clients, streams_open, refusals


def restart_watcher(stack: FullStack, settings: dict[str, str]) -> None:
    """Replaces the watcher process by one with ``settings`` on top of its own; it resumes
    every user from the state changelog."""
    old = next(p for p in stack.processes if p.module == "backbeat.watcher")
    old.stop()
    stack.processes.remove(old)
    port = free_port()
    env = {**old.env, **{f"BACKBEAT_WATCHER_{k}": v for k, v in settings.items()}}
    env["BACKBEAT_WATCHER_PORT"] = str(port)
    fresh = ServiceProcess(f"{old.name}-fixed", old.module, port, env=env)
    stack.processes.append(fresh)
    fresh.start(timeout_s=90)


async def run(
    users: int,
    viewed_share: float,
    playing_share: float,
    changes: int,
    window_s: float,
    client_processes: int,
    in_flight: int,
) -> dict[str, object]:
    databases = {name: test_database_url(name) for name in ("auth", "tokens", "playback")}
    watcher = {**WATCHER, "MAX_IN_FLIGHT": str(in_flight)}
    # Starting the stack migrates the databases, which runs its own event loop: a thread.
    running = full_stack(databases, KAFKA, watcher_settings=watcher, gateway_settings=GATEWAY)
    stack = await asyncio.to_thread(running.__enter__)
    clients: Clients | None = None
    events: EventsTail | None = None
    viewed_n = round(users * viewed_share)
    playing_n = round(users * playing_share)
    try:
        gateway, fake = stack.gateway.url, stack.fake.url
        accounts, players = await asyncio.to_thread(set_up_users, gateway, fake, users)
        people = Population(
            accounts,
            players,
            viewed=range(viewed_n),
            unviewed_playing=range(viewed_n, viewed_n + playing_n),
            idle=range(viewed_n + playing_n, users),
        )
        events = EventsTail(stack.events_topic)
        await events.start()
        async with httpx.AsyncClient(base_url=fake, timeout=30) as spotify:
            catalogue = (await spotify.get("/_control/catalog", params={"limit": 500})).json()
            # The longest tracks, so that no player runs out (and goes idle) during the bench.
            by_length = sorted(catalogue["items"], key=lambda t: t["duration_ms"], reverse=True)
            tracks = iter([item["id"] for item in by_length[:400]])
            clients, streams_open, refusals = await open_streams(
                gateway, stack.gateway.port, people, client_processes
            )
            attention = await measure_mode(
                "attention",
                people,
                clients,
                events,
                spotify,
                tracks,
                changes=changes,
                window_s=window_s,
                warm_up_s=150,
            )
            progress(f"attention: {json.dumps(attention)}")
            clients.stop()
            clients = None
            await asyncio.to_thread(restart_watcher, stack, {"ADAPTIVE": "false"})
            # Fresh sign-ins: an access token (and its stream) lasts 10 minutes.
            clients, _, _ = await open_streams(
                gateway, stack.gateway.port, people, client_processes
            )
            fixed = await measure_mode(
                "fixed",
                people,
                clients,
                events,
                spotify,
                tracks,
                changes=changes,
                window_s=window_s,
                warm_up_s=60,
            )
    finally:
        if events is not None:
            await events.stop()
        if clients is not None:
            clients.stop()
        await asyncio.to_thread(running.__exit__, None, None, None)
    compared = (
        "watched_p99_ms",
        "watched_session_start_p95_ms",
        "unwatched_p99_ms",
        "spotify_requests_per_user_hour",
        "idle_requests_per_user_hour",
    )
    return {
        "bench": "stack_sse_latency",
        "results": {
            "users": users,
            "viewed_users": viewed_n,
            "unwatched_playing_users": playing_n,
            "idle_users": users - viewed_n - playing_n,
            "streams_open": streams_open,
            "streams_refused": len(refusals),
            **attention,
        },
        "baseline": {"schedule": f"fixed, every {ACTIVE_INTERVAL_S:g} s", **fixed},
        "ratio": {key: round(attention[key] / max(fixed[key], 0.001), 2) for key in compared},
        "targets": {
            "watched_p99_ms": 1500,
            "watched_session_start_p95_ms": 2000,
            "spotify_requests_per_user_hour": 428,
            "idle_requests_per_user_hour": 60,
            "lost": 0,
        },
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--viewed", type=float, default=0.1, help="share with a stream open")
    parser.add_argument(
        "--unviewed-playing", type=float, default=0.02, help="share playing, no stream open"
    )
    parser.add_argument("--changes", type=int, default=2, help="track changes, at least")
    parser.add_argument("--window", type=float, default=120.0, help="measured s per mode, least")
    parser.add_argument("--clients", type=int, default=2, help="stream client processes")
    parser.add_argument(
        "--in-flight", type=int, default=WatcherSettings().max_in_flight, help="watcher's polls"
    )
    args = parser.parse_args()
    figures = asyncio.run(
        run(
            args.users,
            args.viewed,
            args.unviewed_playing,
            args.changes,
            args.window,
            args.clients,
            args.in_flight,
        )
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
