"""PostgreSQL gone for 15 s under a consuming playback process: the events that arrive
meanwhile are applied once it is back, exactly once, within 10 s, and the outage is told in
a handful of log lines.

The shared PostgreSQL stays up: the process reaches it through a TCP proxy that the test cuts
(every connection dropped, new ones refused) and opens again, which the process sees as a
server restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.engine import make_url

from backbeat.playback.store.queries import history
from backbeat.runtime.database import Database
from backbeat.runtime.testing import ServiceProcess, free_port, service_process
from tests.conftest import test_database_url
from tests.playback.integration.harness import publish
from tests.playback.scenarios import T0, Listener
from tests.reliability.test_broker_outage import LogWatch, applied, listen, ready, wait_for

pytestmark = pytest.mark.integration

OUTAGE_S = 15.0
RECOVERY_BOUND_S = 10.0
LOG_LINES_BOUND = 10


class TcpProxy:
    """Forwards a loopback port to ``target``; ``cut`` drops every connection and stops
    listening, ``open`` listens again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: asyncio.Server | None = None
        self.transports: set[asyncio.WriteTransport] = set()

    def _run(self, coroutine: object) -> None:
        assert asyncio.iscoroutine(coroutine)
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def open(self) -> None:
        self._run(self._open())

    def cut(self) -> None:
        self._run(self._cut())

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)

    async def _open(self) -> None:
        self.server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for transport in list(self.transports):
            transport.abort()
        self.transports.clear()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.transports |= {writer.transport, upstream_writer.transport}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    url = make_url(test_database_url("playback"))
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.open()
    try:
        yield proxy
    finally:
        proxy.close()


def database_up_metric(process: ServiceProcess) -> str:
    text = httpx.get(f"{process.url}/metrics", timeout=5).text
    prefix = 'backbeat_dependency_up{dependency="database"} '
    return next((line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix)), "")


async def test_a_database_restart_loses_and_duplicates_nothing_and_is_told_in_a_few_lines(
    proxy: TcpProxy, kafka_bootstrap: str, unique: str
) -> None:
    direct_url = test_database_url("playback")
    proxied_url = make_url(direct_url).set(port=proxy.port).render_as_string(hide_password=False)
    events_topic = f"test.dboutage.events.{unique}"
    playback = service_process(
        "playback",
        {
            "DATABASE_URL": proxied_url,
            "EVENTS_TOPIC": events_topic,
            "DEAD_LETTER_TOPIC": f"test.dboutage.events.dlq.{unique}",
            "USERS_TOPIC": f"test.dboutage.users.{unique}",
            "REVOCATIONS_TOPIC": f"test.dboutage.revocations.{unique}",
            "CONSUMER_GROUP": f"test-dboutage-{unique}",
            "ERASURE_CONSUMER_GROUP": f"test-dboutage-erasure-{unique}",
            "EVENTS_PARTITIONS": "3",
            "USERS_PARTITIONS": "1",
            "DEAD_LETTER_PARTITIONS": "1",
            "PROCESSED_EVENTS_PRUNE_INTERVAL_S": "1",
        },
        env={"BACKBEAT_KAFKA_BOOTSTRAP": kafka_bootstrap},
        name=f"dboutage-playback-{unique}",
    )
    database = Database(direct_url)
    users = [f"dboutage-{n}-{unique}" for n in range(4)]
    players = [Listener(user, start=T0) for user in users]
    try:
        playback.start(timeout_s=90)
        before = [e for player in players for e in listen(player, 0)]
        await publish(kafka_bootstrap, events_topic, before)

        async def applied_before() -> bool:
            return await applied(database, users) == len(before)

        await wait_for(applied_before, 60)

        watch = LogWatch(playback)
        watch.mark()
        proxy.cut()
        cut_at = time.monotonic()
        # Events keep arriving while the database is away: they wait in Kafka.
        during = [e for player in players for e in listen(player, 2)]
        await publish(kafka_bootstrap, events_topic, during)
        statuses: list[tuple[int, dict[str, str], str]] = []
        while time.monotonic() - cut_at < OUTAGE_S:
            status, checks = ready(playback)
            statuses.append((status, checks, database_up_metric(playback)))
            await asyncio.sleep(1.0)
        outage_lines = watch.raw_lines()
        proxy.open()
        back_at = time.monotonic()

        ready_s = await wait_for(lambda: ready(playback)[0] == 200, 60)
        expected = len(before) + len(during)

        async def all_applied() -> bool:
            return await applied(database, users) == expected

        await wait_for(all_applied, 60)
        applied_s = time.monotonic() - back_at
        await asyncio.sleep(2)  # a redelivered batch would be applied (twice) by now
        final_count = await applied(database, users)
        told = [str(line.get("msg")) for line in watch.lines()]
        up_after = database_up_metric(playback)
        async with database.session() as session:
            plays = {u: [p.track.id for p in (await history(session, u)).items] for u in users}
    finally:
        playback.stop()
        await database.dispose()

    figures = {
        "outage_s": OUTAGE_S,
        "log_lines_during_outage": {"playback": len(outage_lines)},
        "playback_ready_after_database_s": round(ready_s, 1),
        "events_applied_after_database_s": round(applied_s, 1),
    }
    print(json.dumps(figures))

    assert len(outage_lines) <= LOG_LINES_BOUND, outage_lines
    assert told.count("database unreachable") == 1, told
    assert told.count("database reachable again") == 1, told
    assert any(s == 503 and c.get("database", "").startswith("failing") for s, c, _ in statuses)
    assert any(metric == "0.0" for _, _, metric in statuses)
    assert up_after == "1.0"
    assert final_count == expected
    assert {u: sorted(p) for u, p in plays.items()} == {
        u: ["track-0", "track-1", "track-2", "track-3"] for u in users
    }
    assert ready_s <= RECOVERY_BOUND_S
    assert applied_s <= RECOVERY_BOUND_S
