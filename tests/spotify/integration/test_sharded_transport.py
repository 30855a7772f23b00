"""The Spotify client's transport spreads requests over small connection pools, keeps every
connection for reuse, and frees a pool's slot however a request ends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from backbeat.runtime.testing import StaticJson, free_port
from backbeat.spotify.transport import ShardedTransport

pytestmark = pytest.mark.integration


@pytest.fixture
def slow_server() -> Iterator[StaticJson]:
    """Answers every GET after 0.3 s, noting which connection it came on."""
    with StaticJson({"is_playing": True}, delay_s=0.3) as server:
        yield server


async def test_requests_spread_over_the_pools_and_their_connections_are_reused(
    slow_server: StaticJson,
) -> None:
    transport = ShardedTransport(max_connections=24, shard_size=8)
    assert transport.pools == 3
    async with httpx.AsyncClient(base_url=slow_server.url, transport=transport) as http:
        for _ in range(2):
            wave = [asyncio.create_task(http.get("/v1/me/player")) for _ in range(24)]
            await asyncio.sleep(0.15)
            assert transport.in_flight == [8, 8, 8]
            answers = await asyncio.gather(*wave)
            assert [a.json() for a in answers] == [{"is_playing": True}] * 24
            assert transport.in_flight == [0, 0, 0]
    # The second wave went over the first wave's connections: 24 in all, not 48.
    assert len(slow_server.peers) == 24


async def test_a_failed_or_abandoned_request_frees_its_slot(slow_server: StaticJson) -> None:
    transport = ShardedTransport(max_connections=4, shard_size=2)
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{free_port()}/")
        assert transport.in_flight == [0, 0]
        async with http.stream("GET", slow_server.url) as response:
            assert response.status_code == 200
            assert transport.in_flight in ([1, 0], [0, 1])
        assert transport.in_flight == [0, 0]
        with pytest.raises(httpx.ReadTimeout):
            await http.get(slow_server.url, timeout=0.05)
        assert transport.in_flight == [0, 0]


def test_sizes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ShardedTransport(max_connections=0)
