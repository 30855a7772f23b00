"""Runs Backbeat processes for tests and benchmarks the way production runs them: separate OS
processes on loopback ports, stopped gracefully or killed outright. Logs go to
``test-output/processes/`` under the working directory."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

LOG_DIR = Path("test-output") / "processes"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServiceProcess:
    """One ``python -m <module>`` process with its log in test-output/."""

    name: str
    module: str
    port: int
    args: list[str] = field(default_factory=list)
    env: Mapping[str, str] = field(default_factory=dict)
    ready_path: str = "/health/ready"
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        return LOG_DIR / f"{self.name}-{self.port}.log"

    def start(self, timeout_s: float = 30.0) -> ServiceProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own module, our own arguments
            [sys.executable, "-m", self.module, *self.args],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{self.name} did not become ready: {self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def service_process(
    service: str,
    settings: Mapping[str, str],
    *,
    env: Mapping[str, str] | None = None,
    name: str | None = None,
    port: int | None = None,
    ready_path: str = "/health/ready",
) -> ServiceProcess:
    """``python -m backbeat.<service>`` on ``port`` (a free one by default), configured by
    ``settings``: its BACKBEAT_<SERVICE>_* values by suffix (``DATABASE_URL``), plus ``env``
    as it is (``BACKBEAT_KAFKA_BOOTSTRAP``)."""
    port = port or free_port()
    prefix = f"BACKBEAT_{service.upper()}_"
    return ServiceProcess(
        name or service,
        f"backbeat.{service}",
        port,
        env={
            **(env or {}),
            **{prefix + key: value for key, value in settings.items()},
            prefix + "PORT": str(port),
        },
        ready_path=ready_path,
    )


def spotify_fake(*extra_args: str) -> ServiceProcess:
    port = free_port()
    return ServiceProcess(
        name="spotify-fake",
        module="backbeat.spotify_fake",
        port=port,
        args=["--host", "127.0.0.1", "--port", str(port), *extra_args],
        ready_path="/_control/ping",
    )


def run_apart(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on an event loop of its own in a thread of its own: callable from
    synchronous code (a fixture's teardown) whatever event loop this thread has, which it
    leaves as it was (``asyncio.run`` here would unset it)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def topic_names(bootstrap: str) -> set[str]:
    """Every topic the cluster has."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def values_of_key(bootstrap: str, topic: str, key: str) -> list[bytes | None]:
    """The values (None for a tombstone) of every record with ``key`` on ``topic``, oldest
    first, up to the end offsets at the call."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        values: list[bytes | None] = []
        while any([await consumer.position(tp) < end for tp, end in ends.items()]):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                values += [r.value for r in records if r.key == key.encode()]
        return values
    finally:
        await consumer.stop()


async def delete_topics(bootstrap: str, topics: Iterable[str]) -> int:
    """Delete ``topics`` (what a test or benchmark run created); returns how many."""
    names = sorted(topics)
    if not names:
        return 0
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=60_000)
    await admin.start()
    try:
        for start in range(0, len(names), 100):
            await admin.delete_topics(names[start : start + 100])
    finally:
        await admin.close()
    return len(names)


async def delete_run_topics(bootstrap: str, run: str) -> int:
    """Delete every topic whose name carries ``run``, the marker a benchmark run names its
    topics with, so runs do not pile partitions up on the broker."""
    return await delete_topics(bootstrap, {t for t in await topic_names(bootstrap) if run in t})


class StaticJson:
    """A tiny HTTP server answering one JSON document (e.g. a JWKS) on every GET, after
    ``delay_s``; ``peers`` collects the client ports it was called from (one per connection)."""

    def __init__(self, document: Any, *, delay_s: float = 0.0) -> None:
        body = json.dumps(document).encode()
        peers: set[int] = set()
        self.peers = peers

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                peers.add(self.client_address[1])
                if delay_s:
                    time.sleep(delay_s)
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StaticJson:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass(frozen=True)
class LoadResult:
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "requests_per_s": round(self.requests_per_s, 1),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }


def percentile(samples: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0.99 for p99) of ``samples``; 0.0 when empty."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def http_load_into(
    url: str,
    path_for: Callable[[int], str],
    latencies: list[float],
    statuses: dict[int, int],
    *,
    headers: Mapping[str, str] | None = None,
    concurrency: int = 50,
    seconds: float = 5.0,
) -> float:
    """`http_load`'s closed loop, adding every latency (seconds) and status to the caller's
    ``latencies`` and ``statuses`` (so that several turns add up to one distribution);
    returns the seconds it ran."""
    target = httpx.URL(url)
    host, port = target.host, target.port or 80
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    stop = time.monotonic() + seconds

    async def worker(n: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        i = n
        try:
            while time.monotonic() < stop:
                request = f"GET {path_for(i)} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n"
                started = time.perf_counter()
                writer.write(request.encode())
                status = int((await reader.readline()).split()[1])
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
                i += concurrency
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return time.monotonic() - started


async def http_load(
    url: str,
    path_for: Callable[[int], str],
    *,
    headers: Mapping[str, str] | None = None,
    concurrency: int = 50,
    seconds: float = 5.0,
) -> LoadResult:
    """Closed-loop HTTP/1.1 GET load over keep-alive connections, for benchmarks.

    A deliberately small client (a request is a few bytes written and a response read by its
    Content-Length), so that on a small machine the measurement is of the server, not of a
    general-purpose client library. Bounded by ``seconds``; loopback targets only.
    """
    samples: list[float] = []
    statuses: dict[int, int] = {}
    elapsed = await http_load_into(
        url,
        path_for,
        samples,
        statuses,
        headers=headers,
        concurrency=concurrency,
        seconds=seconds,
    )
    return LoadResult(
        requests=len(samples),
        requests_per_s=len(samples) / elapsed,
        p50_ms=percentile(samples, 0.50) * 1000,
        p99_ms=percentile(samples, 0.99) * 1000,
        statuses=statuses,
    )


class EventStreamSocket:
    """One Server-Sent Events stream read over a raw loopback socket (HTTP/1.1, chunked).

    For benchmarks that hold a thousand streams in one process: a request is a few bytes
    written, and the body is split into frames on blank lines without a general-purpose
    client's per-line work. ``frames()`` yields the complete frames of each chunk read.
    """

    def __init__(self, port: int, path: str, token: str) -> None:
        self.port = port
        self.path = path
        self.token = token

    async def open(self) -> None:
        """Sends the request; RuntimeError (with the status line) unless the answer is 200."""
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n"
            ).encode()
        )
        status = await self.reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(status.decode(errors="replace").strip() or "connection closed")
        while (await self.reader.readline()) not in (b"\r\n", b""):
            pass

    async def frames(self) -> AsyncIterator[list[bytes]]:
        """The frames completed by each chunk, until the server ends the stream."""
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
            *complete, buffer = buffer.split(b"\n\n")
            if complete:
                yield complete

    def close(self) -> None:
        self.writer.close()
