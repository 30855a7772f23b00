"""The Spotify client's transport spreads requests over small connection pools, keeps every
connection for reuse, and frees a pool's slot however a request ends."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from backbeat.runtime.testing import free_port
from backbeat.spotify.transport import ShardedTransport

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def slow_server() -> Iterator[str]:
    """Answers every GET after 0.3 s with the caller's port (which connection it came on)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            time.sleep(0.3)
            body = json.dumps({"port": self.client_address[1]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_requests_spread_over_the_pools_and_their_connections_are_reused(
    slow_server: str,
) -> None:
    transport = ShardedTransport(max_connections=24, shard_size=8)
    assert transport.pools == 3
    async with httpx.AsyncClient(base_url=slow_server, transport=transport) as http:
        ports: set[int] = set()
        for _ in range(2):
            wave = [asyncio.create_task(http.get("/v1/me/player")) for _ in range(24)]
            await asyncio.sleep(0.15)
            assert transport.in_flight == [8, 8, 8]
            answers = await asyncio.gather(*wave)
            assert [a.status_code for a in answers] == [200] * 24
            ports |= {a.json()["port"] for a in answers}
            assert transport.in_flight == [0, 0, 0]
    # The second wave went over the first wave's connections: 24 in all, not 48.
    assert len(ports) == 24


async def test_a_failed_or_abandoned_request_frees_its_slot(slow_server: str) -> None:
    transport = ShardedTransport(max_connections=4, shard_size=2)
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{free_port()}/")
        assert transport.in_flight == [0, 0]
        async with http.stream("GET", f"{slow_server}/v1/me/player") as response:
            assert response.status_code == 200
            assert transport.in_flight in ([1, 0], [0, 1])
        assert transport.in_flight == [0, 0]
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"{slow_server}/v1/me/player", timeout=0.05)
        assert transport.in_flight == [0, 0]


def test_sizes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ShardedTransport(max_connections=0)
