"""A Kafka broker restart with 20 s of downtime under running service processes: nothing is
lost or applied twice, the services are back within 10 s of the broker, and each process
tells the outage in a handful of log lines (it wrote thousands before).

The broker is a throwaway single-node KRaft broker of the project's pinned Kafka version on
free ports with a data directory of its own: the shared broker other tests use stays up.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from backbeat.events.playback import PlaybackEvent
from backbeat.playback.domain.projection import IncomingEvent
from backbeat.playback.store.queries import history
from backbeat.playback.store.tables import processed_events
from backbeat.runtime.database import Database
from backbeat.runtime.kafka import kafka_ping
from backbeat.runtime.testing import (
    ServiceProcess,
    free_port,
    run_apart,
    service_process,
    spotify_fake,
)
from backbeat.watcher.testing import (
    StandInAuthAndTokens,
    at_ms,
    connect_spotify_users,
    connected,
    publish_connections,
    read_playback_events,
    register_spotify_app,
)
from tests.conftest import REPO, test_database_url
from tests.playback.integration.harness import publish
from tests.playback.scenarios import T0, Listener, track

pytestmark = pytest.mark.integration

OUTAGE_S = 20.0
RECOVERY_BOUND_S = 10.0
LOG_LINES_BOUND = 10
KAFKA_HOME = Path(
    os.environ.get("BACKBEAT_HOME")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "backbeat"
)


def kafka_libs() -> Path:
    """The jars ``infra/kafka/kafka.sh`` resolves (resolving them first when missing)."""
    pom = (REPO / "infra/kafka/pom.xml").read_text()
    version = pom.split("<kafka.version>")[1].split("</kafka.version>")[0]
    libs = KAFKA_HOME / f"kafka-{version}" / "libs"
    if not (libs / ".complete").exists():
        subprocess.run(["bash", str(REPO / "infra/kafka/kafka.sh"), "resolve"], check=True)
    return libs


async def answers(bootstrap: str) -> bool:
    try:
        await kafka_ping(bootstrap, timeout_s=2.0)
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False
    return True


class ThrowawayBroker:
    """A KRaft broker and controller in one JVM, as ``infra/kafka`` runs the shared one, that
    a test can stop and start again on the same ports and data."""

    def __init__(self, workdir: Path) -> None:
        self.port, self.controller_port = free_port(), free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.data = workdir / "data"
        self.config = workdir / "server.properties"
        self.log = workdir / "kafka.log"
        self.libs = kafka_libs()
        self.process: subprocess.Popen[bytes] | None = None
        template = (REPO / "infra/kafka/server.properties.in").read_text()
        self.config.write_text(
            template.replace("@HOST@", "127.0.0.1")
            .replace("@CONTROLLER_PORT@", str(self.controller_port))
            .replace("@PORT@", str(self.port))
            .replace("@DATA@", str(self.data))
        )
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        self.java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.config))

    def java(self, main: str, *args: str, wait: bool = True) -> subprocess.Popen[bytes]:
        # A small heap, the serial collector and the first JIT tier only: a broker for one
        # test's few topics, started twice beside the suite's other processes.
        command = [
            "java",
            "-Xmx256m",
            "-Xms64m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={REPO / 'infra/kafka/log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]
        with self.log.open("ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        if wait and process.wait(timeout=120) != 0:
            raise RuntimeError(f"{main} failed: see {self.log}")
        return process

    def start(self, timeout_s: float = 120.0) -> float:
        """Start and wait until the broker answers a metadata request; returns that moment."""
        self.process = self.java("kafka.Kafka", str(self.config), wait=False)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the broker exited: see {self.log}")
            if run_apart(answers(self.bootstrap)):
                return time.monotonic()
            time.sleep(0.2)
        raise RuntimeError(f"the broker did not answer within {timeout_s} s: see {self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ThrowawayBroker]:
    broker = ThrowawayBroker(tmp_path)
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()


@dataclass
class LogWatch:
    """What a process wrote to its log from a moment on."""

    process: ServiceProcess
    offset: int = 0

    def mark(self) -> None:
        self.offset = self.process.log_path.stat().st_size

    def lines(self) -> list[dict[str, object]]:
        with self.process.log_path.open("rb") as log:
            log.seek(self.offset)
            text = log.read().decode(errors="replace")
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    def raw_lines(self) -> list[str]:
        with self.process.log_path.open("rb") as log:
            log.seek(self.offset)
            return log.read().decode(errors="replace").splitlines()


def ready(process: ServiceProcess) -> tuple[int, dict[str, str]]:
    try:
        response = httpx.get(f"{process.url}/health/ready", timeout=5)
    except httpx.HTTPError:
        return 0, {}
    return response.status_code, response.json().get("checks", {})


def kafka_up_metric(process: ServiceProcess) -> str:
    text = httpx.get(f"{process.url}/metrics", timeout=5).text
    prefix = 'backbeat_dependency_up{dependency="kafka"} '
    return next((line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix)), "")


def listen(listener: Listener, first: int) -> list[IncomingEvent]:
    """The events of the listener playing tracks ``first`` and ``first + 1`` through."""
    already = len(listener.events)
    listener.wait(60).listen_through(track(first)).listen_through(track(first + 1)).stop()
    return listener.events[already:]


async def applied(database: Database, users: list[str]) -> int:
    async with database.session() as session:
        query = select(func.count()).where(processed_events.c.user_id.in_(users))
        return int((await session.execute(query)).scalar_one())


async def wait_for(condition: object, timeout_s: float, step_s: float = 0.2) -> float:
    """Seconds until ``condition()`` (sync or async) is true; AssertionError at the deadline."""
    assert callable(condition)
    started = time.monotonic()
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout_s, "timed out"
        await asyncio.sleep(step_s)


@dataclass
class SpotifyUsers:
    """Users listening at the Spotify fake, connected for a watcher through stand-ins of auth
    and tokens."""

    fake: ServiceProcess
    tokens: StandInAuthAndTokens
    app: str
    users: list[str]
    tracks: list[str]

    async def play(self, track_id: str) -> None:
        async with httpx.AsyncClient(base_url=self.fake.url, timeout=10) as http:
            for user in self.users:
                response = await http.put(
                    f"/_control/users/{user}/playback",
                    json={"track_id": track_id, "progress_ms": 0},
                )
                response.raise_for_status()


@pytest.fixture
async def spotify_users(unique: str) -> AsyncIterator[SpotifyUsers]:
    fake = spotify_fake("--rate-limit", "0").start()
    tokens: StandInAuthAndTokens | None = None
    try:
        async with httpx.AsyncClient(base_url=fake.url, timeout=10) as http:
            client_id, secret = await register_spotify_app(http)
            users = []
            for n in range(3):
                created = await http.post("/_control/users", json={"id": f"w{n}-{unique}"})
                users.append(created.json()["id"])
            tokens = StandInAuthAndTokens(
                await connect_spotify_users(http, client_id, secret, users)
            ).__enter__()
            catalog = (await http.get("/_control/catalog", params={"limit": 500})).json()
            tracks = [t["id"] for t in catalog["items"] if t["duration_ms"] > 200_000][:2]
        yield SpotifyUsers(fake, tokens, client_id, users, tracks)
    finally:
        fake.stop()
        if tokens is not None:
            tokens.__exit__()


def by_user(events: list[PlaybackEvent]) -> dict[str, list[tuple[int, str, str]]]:
    timelines: dict[str, list[tuple[int, str, str]]] = {}
    for e in sorted(events, key=lambda e: (e.subject, e.data.sequence)):
        track_id = e.data.track.id if e.data.track else ""
        timelines.setdefault(e.subject, []).append((e.data.sequence, e.data.kind.value, track_id))
    return timelines


async def test_a_broker_restart_loses_and_duplicates_nothing_and_is_told_in_a_few_lines(
    broker: ThrowawayBroker, spotify_users: SpotifyUsers, unique: str
) -> None:
    database_url = test_database_url("playback")
    events_topic = f"test.outage.events.{unique}"
    connections_topic = f"test.outage.connections.{unique}"
    playback = service_process(
        "playback",
        {
            "DATABASE_URL": database_url,
            "EVENTS_TOPIC": events_topic,
            "DEAD_LETTER_TOPIC": f"test.outage.events.dlq.{unique}",
            "USERS_TOPIC": f"test.outage.users.{unique}",
            "REVOCATIONS_TOPIC": f"test.outage.revocations.{unique}",
            "CONSUMER_GROUP": f"test-outage-{unique}",
            "ERASURE_CONSUMER_GROUP": f"test-outage-erasure-{unique}",
            "EVENTS_PARTITIONS": "3",
            "USERS_PARTITIONS": "1",
            "DEAD_LETTER_PARTITIONS": "1",
        },
        env={"BACKBEAT_KAFKA_BOOTSTRAP": broker.bootstrap},
        name=f"outage-playback-{unique}",
    )
    spotify = spotify_users
    watcher = service_process(
        "watcher",
        {
            "SPOTIFY_API_URL": spotify.fake.url,
            "SPOTIFY_ACCOUNTS_URL": spotify.fake.url,
            "TOKENS_URL": spotify.tokens.url,
            "AUTH_TOKEN_URL": f"{spotify.tokens.url}/oauth/token",
            "CONNECTIONS_TOPIC": connections_topic,
            "EVENTS_TOPIC": events_topic,
            "EVENTS_PARTITIONS": "3",
            "STATE_TOPIC": f"test.outage.state.{unique}",
            "CONSUMER_GROUP": f"test-outage-watcher-{unique}",
            "TRANSACTIONAL_ID_PREFIX": f"test-outage-watcher-{unique}",
            "SESSION_TIMEOUT_MS": "6000",
            "HEARTBEAT_INTERVAL_MS": "1000",
            "COMMIT_INTERVAL_MS": "50",
            "ACTIVE_INTERVAL_S": "1",
            "PAUSED_INTERVAL_S": "2",
            "IDLE_INTERVAL_S": "2",
            "LONG_IDLE_INTERVAL_S": "3",
            "RATE_BUDGET_PER_S": "1000",
            "RATE_BUDGET_BURST": "100",
        },
        env={"BACKBEAT_KAFKA_BOOTSTRAP": broker.bootstrap},
        name=f"outage-watcher-{unique}",
    )
    processes = {"playback": playback, "watcher": watcher}
    database = Database(database_url)
    # Users whose events a test publisher writes, and users the watcher watches at the fake.
    listeners = [f"outage-{n}-{unique}" for n in range(4)]
    players = [Listener(user, start=T0) for user in listeners]
    watched = spotify.users
    first, second = spotify.tracks
    try:
        now = int(time.time() * 1000)
        await publish_connections(
            broker.bootstrap,
            connections_topic,
            [connected(u, at_ms(now), spotify.app) for u in watched],
        )
        await spotify.play(first)
        for process in processes.values():
            process.start(timeout_s=90)

        before = [e for player in players for e in listen(player, 0)]
        await publish(broker.bootstrap, events_topic, before)

        async def each_watched_user_started() -> bool:
            async with database.session() as session:
                query = select(func.count(func.distinct(processed_events.c.user_id))).where(
                    processed_events.c.user_id.in_(watched)
                )
                return int((await session.execute(query)).scalar_one()) == len(watched)

        await wait_for(each_watched_user_started, 90)

        startup_errors = {
            name: sum(1 for line in LogWatch(p).lines() if line.get("level") == "error")
            for name, p in processes.items()
        }
        watches = {name: LogWatch(p) for name, p in processes.items()}
        for watch in watches.values():
            watch.mark()
        stopping = time.monotonic()
        broker.stop()
        statuses: list[tuple[int, dict[str, str], str]] = []
        changed = False
        while time.monotonic() - stopping < OUTAGE_S:
            status, checks = ready(playback)
            statuses.append((status, checks, kafka_up_metric(playback)))
            if not changed and time.monotonic() - stopping > OUTAGE_S / 4:
                # Seen by the watcher while the broker is away: published once it is back.
                await spotify.play(second)
                changed = True
            await asyncio.sleep(1.0)
        back_at = broker.start()
        outage_lines = {name: watch.raw_lines() for name, watch in watches.items()}

        playback_ready_s = await wait_for(lambda: ready(playback)[0] == 200, 60)
        after = [e for player in players for e in listen(player, 2)]
        await publish(broker.bootstrap, events_topic, after)
        expected = len(before) + len(after)

        async def all_applied() -> bool:
            return await applied(database, listeners) == expected

        await wait_for(all_applied, 60)
        applied_s = time.monotonic() - back_at

        async def second_track_applied() -> bool:
            async with database.session() as session:
                query = select(func.count()).where(
                    processed_events.c.user_id.in_(watched),
                    processed_events.c.sequence >= 3,
                )
                return int((await session.execute(query)).scalar_one()) >= len(watched)

        await wait_for(second_track_applied, 60)
        watched_applied_s = time.monotonic() - back_at
        await wait_for(lambda: ready(watcher)[0] == 200, 60)
        watcher_ready_s = time.monotonic() - back_at
        told = {
            name: [str(line.get("msg")) for line in watch.lines()]
            for name, watch in watches.items()
        }
        through_recovery = {name: len(watch.raw_lines()) for name, watch in watches.items()}
        playback_up_after = kafka_up_metric(playback)
        published = by_user(await read_playback_events(broker.bootstrap, events_topic))
        async with database.session() as session:
            plays = {u: [p.track.id for p in (await history(session, u)).items] for u in listeners}
            rows = await session.execute(
                select(processed_events.c.user_id, processed_events.c.sequence).where(
                    processed_events.c.user_id.in_(watched)
                )
            )
            applied_sequences: dict[str, list[int]] = {}
            for user_id, sequence in rows:
                applied_sequences.setdefault(user_id, []).append(sequence)
        final_count = await applied(database, listeners)
    finally:
        for process in processes.values():
            process.stop()
        await database.dispose()

    figures = {
        "outage_s": OUTAGE_S,
        "log_lines_during_outage": {name: len(lines) for name, lines in outage_lines.items()},
        "log_lines_through_recovery": through_recovery,
        "playback_ready_after_broker_s": round(playback_ready_s, 1),
        "events_applied_after_broker_s": round(applied_s, 1),
        "watched_change_applied_after_broker_s": round(watched_applied_s, 1),
        "watcher_ready_after_broker_s": round(watcher_ready_s, 1),
        "error_lines_before_outage": startup_errors,
    }
    print(json.dumps(figures))

    for name, lines in outage_lines.items():
        assert len(lines) <= LOG_LINES_BOUND, (name, lines)
        assert told[name].count("kafka unreachable") == 1, (name, told[name])
        assert told[name].count("kafka reachable again") == 1, (name, told[name])
        # With the consumers' rejoining after it: a few lines more, not a flood.
        assert through_recovery[name] <= 2 * LOG_LINES_BOUND, (name, told[name])
    # Readiness and the gauge said so while the broker was away, and are back after.
    assert any(s == 503 and c.get("kafka", "").startswith("failing") for s, c, _ in statuses)
    assert any(metric == "0.0" for _, _, metric in statuses)
    assert playback_up_after == "1.0"
    # Every event applied exactly once: four plays per user, none twice, none missing.
    assert final_count == expected
    assert {u: sorted(p) for u, p in plays.items()} == {
        u: ["track-0", "track-1", "track-2", "track-3"] for u in listeners
    }
    # The change the watcher saw during the outage was published after it, with no sequence
    # number repeated or skipped, and playback applied each of its events once.
    for user in watched:
        timeline = published[user]
        assert [seq for seq, _, _ in timeline] == list(range(1, len(timeline) + 1)), timeline
        assert (timeline[0][1], timeline[0][2]) == ("track_started", first), timeline
        assert ("track_started", second) in [(kind, t) for _, kind, t in timeline], timeline
        assert sorted(applied_sequences[user]) == [seq for seq, _, _ in timeline], user
    # Back within 10 s of the broker: ready, and the events published then applied.
    assert playback_ready_s <= RECOVERY_BOUND_S
    assert applied_s <= RECOVERY_BOUND_S
    assert watched_applied_s <= RECOVERY_BOUND_S
