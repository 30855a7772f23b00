"""A kept-alive connection the service closes under a request: the gateway sends an
idempotent request again on a fresh connection, and never sends a non-idempotent one twice.

The service here is a bare socket server that answers the first request of each connection
and drops the connection on the second without a word, the way a service that closed an
idle connection does when a request crosses the close.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from backbeat.gateway.adapters.forward import Forwarder, Timeouts, UpstreamUnavailable
from backbeat.gateway.domain.routes import Upstream

pytestmark = pytest.mark.integration


class DroppingService:
    """Answers each connection's first request with 200, drops it on the second."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for answered in (True, False):
                head = await reader.readuntil(b"\r\n\r\n")
                request_line = head.split(b"\r\n", 1)[0].decode()
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                self.received.append(request_line)
                if not answered:
                    break
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def dropping() -> AsyncIterator[tuple[DroppingService, Forwarder]]:
    service = DroppingService()
    url = await service.start()
    forwarder = Forwarder(
        dict.fromkeys(Upstream, url),
        Timeouts(connect_s=2, response_s=5, stream_idle_s=5),
        max_connections=10,
    )
    yield service, forwarder
    await forwarder.aclose()
    await service.stop()


async def send(forwarder: Forwarder, method: str) -> int:
    response = await forwarder.forward(
        Upstream.PLAYBACK,
        method=method,
        target="/api/playback/thing",
        headers=[("x-note", "caf\u00e9")],
        body=b"{}" if method == "POST" else b"",
        is_stream=False,
    )
    await response.upstream.aread()
    await response.upstream.aclose()
    return response.status_code


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_an_idempotent_request_on_a_dropped_connection_is_sent_again(
    dropping: tuple[DroppingService, Forwarder], method: str
) -> None:
    service, forwarder = dropping
    assert await send(forwarder, method) == 200

    # Goes out on the kept-alive connection, which the service drops; then on a new one.
    assert await send(forwarder, method) == 200
    assert service.received == [f"{method} /api/playback/thing HTTP/1.1"] * 3


async def test_a_post_on_a_dropped_connection_is_never_sent_twice(
    dropping: tuple[DroppingService, Forwarder],
) -> None:
    service, forwarder = dropping
    assert await send(forwarder, "POST") == 200

    with pytest.raises(UpstreamUnavailable) as failure:
        await send(forwarder, "POST")

    assert failure.value.status == 502
    assert service.received == ["POST /api/playback/thing HTTP/1.1"] * 2


async def test_a_post_is_sent_again_when_no_connection_could_be_opened() -> None:
    attempts: list[str] = []

    def refuse_then_answer(request: httpx.Request) -> httpx.Response:
        attempts.append(request.method)
        if len(attempts) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(201, content=b"{}")

    forwarder = Forwarder(
        dict.fromkeys(Upstream, "http://playback.invalid"),
        Timeouts(connect_s=2, response_s=5, stream_idle_s=5),
        max_connections=10,
        transport=httpx.MockTransport(refuse_then_answer),
    )
    try:
        assert await send(forwarder, "POST") == 201
    finally:
        await forwarder.aclose()
    assert attempts == ["POST", "POST"]
