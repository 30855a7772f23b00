"""Sends a request on to a service and relays its response as it arrives.

Nothing is buffered on the way back: each chunk the service writes is passed on as soon as it
is read, so a Server-Sent Events stream reaches the browser event by event. A service that
cannot be reached is a 502, one that does not start answering in time a 504; both are problem
details that name the service, never its address.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import logging
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from backbeat.gateway.adapters.headers import downstream_response_headers
from backbeat.gateway.domain.routes import Upstream
from backbeat.runtime.problems import ProblemError

log = logging.getLogger(__name__)

KEEPALIVE_EXPIRY_S = 2.0

# Methods whose request may be sent twice to the same effect as once (RFC 9110 section 9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class _KeepNoCookies(http.cookiejar.DefaultCookiePolicy):
    """The clients to the services carry many people's requests: a cookie a service sets is
    the caller's (relayed in Set-Cookie), never the client's. An HTTP client keeps such cookies
    and sends them with later requests that have none, which would hand one caller's cookie,
    the connect flow's browser binding among them, to another's request."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect_s: float
    # Until the response head arrives; then also the longest silence within a plain response.
    response_s: float
    # The longest silence within a live stream.
    stream_idle_s: float


class UpstreamUnavailable(ProblemError):
    def __init__(self, upstream: Upstream) -> None:
        super().__init__(
            502,
            "upstream_unavailable",
            f"The {upstream.value} service is not reachable",
            "The gateway could not reach the service behind this route; try again shortly.",
            headers={"Retry-After": "5"},
        )


class UpstreamTimeout(ProblemError):
    def __init__(self, upstream: Upstream) -> None:
        super().__init__(
            504,
            "upstream_timeout",
            f"The {upstream.value} service did not answer in time",
            "The service behind this route is slow right now; try again shortly.",
        )


class UpstreamBusy(ProblemError):
    def __init__(self, upstream: Upstream) -> None:
        super().__init__(
            503,
            "upstream_busy",
            f"Too many requests are waiting for the {upstream.value} service",
            headers={"Retry-After": "1"},
        )


class RelayedResponse(Response):
    """A service's response, relayed chunk by chunk while watching the caller.

    When the caller goes away (a closed tab ends its live stream) the service's response is
    closed at once, rather than when the service next writes something.
    """

    def __init__(self, upstream: httpx.Response, *, name: Upstream, is_stream: bool) -> None:
        self.upstream = upstream
        self.name = name
        self.is_stream = is_stream
        self.status_code = upstream.status_code
        self.background = None
        headers = downstream_response_headers(upstream.headers.multi_items())
        if is_stream or upstream.headers.get("content-type", "").startswith("text/event-stream"):
            # Any proxy in front of the gateway must not buffer or cache the stream either;
            # whatever the service said about buffering, the gateway's word is the one sent.
            headers = [(k, v) for k, v in headers if k.lower() != "x-accel-buffering"]
            headers.append(("x-accel-buffering", "no"))
            if "cache-control" not in upstream.headers:
                headers.append(("cache-control", "no-cache"))
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        relay = asyncio.create_task(self._relay(send))
        caller_gone = asyncio.create_task(_disconnected(receive))
        try:
            await asyncio.wait({relay, caller_gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            caller_gone.cancel()
            # The caller left mid-response: stop reading from the service.
            relay.cancel()
            await asyncio.wait({relay, caller_gone})
            await self.upstream.aclose()
        if not relay.cancelled():
            relay.result()

    async def _relay(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        try:
            async for chunk in self.upstream.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except httpx.ReadTimeout:
            if not self.is_stream:
                raise
            # A silent live stream is closed like any other end of stream; the browser
            # reconnects with Last-Event-ID.
            log.info("closing an idle stream", extra={"upstream": self.name.value})
        except httpx.HTTPError as exc:
            # The head is already sent: breaking the connection (by raising) is the only way
            # left to tell the caller that the body is incomplete.
            log.warning(
                "service response broke off",
                extra={"upstream": self.name.value, "error": type(exc).__name__},
            )
            raise
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        continue


class Forwarder:
    """Two connection pools per service: one for live streams, one for every other request.

    Streams hold their connection for as long as the browser listens; in a pool of their own
    they can neither use up the connections requests need nor make each request dearer (the
    HTTP client looks over every pooled connection whenever a request starts or ends, and a
    thousand open streams would be a thousand to look over)."""

    def __init__(
        self,
        base_urls: Mapping[Upstream, str],
        timeouts: Timeouts,
        *,
        max_connections: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.timeouts = timeouts

        def pool(url: str, keep_alive: int) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                base_url=url,
                cookies=http.cookiejar.CookieJar(policy=_KeepNoCookies()),
                follow_redirects=False,
                timeout=httpx.Timeout(timeouts.response_s, connect=timeouts.connect_s),
                limits=httpx.Limits(
                    max_connections=max_connections,
                    max_keepalive_connections=keep_alive,
                    # Below the services' own idle timeout (uvicorn's 5 s): a connection they
                    # are closing must not be picked for a request, which would then fail.
                    keepalive_expiry=KEEPALIVE_EXPIRY_S,
                ),
                transport=transport,
            )

        self.clients = {upstream: pool(url, 100) for upstream, url in base_urls.items()}
        # A stream's connection ends with the stream: nothing to keep.
        self.stream_clients = {upstream: pool(url, 0) for upstream, url in base_urls.items()}

    async def forward(
        self,
        upstream: Upstream,
        *,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        is_stream: bool,
    ) -> RelayedResponse:
        """Sends ``method target`` to ``upstream``; the response body is still to be read."""
        client = (self.stream_clients if is_stream else self.clients)[upstream]
        read_s = self.timeouts.stream_idle_s if is_stream else self.timeouts.response_s
        request = client.build_request(
            method,
            target,
            # As bytes: a caller's header may hold bytes 0x80-0xff (obs-text, RFC 9110
            # section 5.5), which reach here decoded as Latin-1 and go on unchanged.
            headers=[(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers],
            content=body,
            timeout=httpx.Timeout(
                connect=self.timeouts.connect_s,
                read=read_s,
                write=self.timeouts.response_s,
                pool=self.timeouts.connect_s,
            ),
        )
        try:
            # The whole wait for the response head is bounded, not only each read.
            async with asyncio.timeout(self.timeouts.response_s):
                response = await self._send(client, request, upstream)
        except httpx.PoolTimeout:
            log.warning("no free connection to a service", extra={"upstream": upstream.value})
            raise UpstreamBusy(upstream) from None
        except (httpx.TimeoutException, TimeoutError):
            log.warning("service did not answer in time", extra={"upstream": upstream.value})
            raise UpstreamTimeout(upstream) from None
        except httpx.HTTPError as exc:
            log.warning(
                "service not reachable",
                extra={"upstream": upstream.value, "error": type(exc).__name__},
            )
            raise UpstreamUnavailable(upstream) from None
        return RelayedResponse(response, name=upstream, is_stream=is_stream)

    async def _send(
        self, client: httpx.AsyncClient, request: httpx.Request, upstream: Upstream
    ) -> httpx.Response:
        """Sends ``request``, once more if the connection failed before any response came.

        A kept-alive connection the service has just closed fails the request sent on it;
        that failure is the connection's, not the caller's. A request that may have reached
        the service goes again only when sending it twice is harmless (an idempotent method);
        any request goes again when the connection could not even be opened."""
        try:
            return await client.send(request, stream=True)
        except (
            httpx.ConnectError,
            httpx.RemoteProtocolError,
            httpx.ReadError,
            httpx.WriteError,
        ) as exc:
            nothing_sent = isinstance(exc, httpx.ConnectError)
            if not (nothing_sent or request.method in IDEMPOTENT_METHODS):
                raise
            log.info(
                "sending again on another connection",
                extra={"upstream": upstream.value, "error": type(exc).__name__},
            )
        return await client.send(request, stream=True)

    async def get_json(self, upstream: Upstream, path: str) -> object:
        """A service's own JSON document (its OpenAPI), for the gateway itself."""
        response = await self.clients[upstream].get(path, headers={"accept": "application/json"})
        response.raise_for_status()
        return response.json()

    async def aclose(self) -> None:
        for client in [*self.clients.values(), *self.stream_clients.values()]:
            await client.aclose()
