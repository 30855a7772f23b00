"""Many small connection pools behind one httpx transport.

httpx's connection pool looks over every connection it holds each time a request starts and
each time a response ends (checking idle ones with a system call), so a request's cost grows
with the pool. A process that polls Spotify for a thousand users with dozens of requests in
flight paid more for that bookkeeping than for the request itself. Here each request goes to
the small pool with the fewest requests in flight, so the bookkeeping stays that of a pool of
a few connections, however many the process keeps open in all.

Measured on loopback after a burst of 64 requests filled the pools: 1.7 ms of CPU per
request with eight pools of eight connections, against 3.0-4.7 ms with one pool of 64
(8 and 64 requests in flight).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx


class _ReleasedOnClose(httpx.AsyncByteStream):
    """A response body that frees its pool's slot once closed (read to the end or not)."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._release is not None:
                release, self._release = self._release, None
                release()


class ShardedTransport(httpx.AsyncBaseTransport):
    """``max_connections`` split into pools of at most ``shard_size`` connections each; every
    connection is kept alive for reuse within its pool."""

    def __init__(self, *, max_connections: int, shard_size: int = 8) -> None:
        if max_connections < 1 or shard_size < 1:
            raise ValueError("max_connections and shard_size must be at least 1")
        size = min(shard_size, max_connections)
        count = -(-max_connections // size)
        self._shards = [
            httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size)
            )
            for _ in range(count)
        ]
        self._in_flight = [0] * count

    @property
    def pools(self) -> int:
        return len(self._shards)

    @property
    def in_flight(self) -> list[int]:
        """Requests each pool is serving now (from sending to closing the response)."""
        return list(self._in_flight)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = min(range(len(self._in_flight)), key=self._in_flight.__getitem__)
        self._in_flight[index] += 1

        def release() -> None:
            self._in_flight[index] -= 1

        try:
            response = await self._shards[index].handle_async_request(request)
        except BaseException:
            release()
            raise
        if not isinstance(response.stream, httpx.AsyncByteStream):
            release()
            raise TypeError("an async transport answered with a synchronous body")
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_ReleasedOnClose(response.stream, release),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()
