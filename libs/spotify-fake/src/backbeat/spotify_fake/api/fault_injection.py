"""ASGI middleware that applies the injected faults before a Spotify route runs."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from email.utils import format_datetime

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from backbeat.spotify_fake.domain.faults import Fault
from backbeat.spotify_fake.fake import FakeSpotify

_ROUTES = {
    ("GET", "/authorize"): "authorize",
    ("POST", "/authorize"): "authorize",
    ("POST", "/api/token"): "token",
    ("GET", "/v1/me"): "me",
    ("GET", "/v1/me/player"): "player",
    ("GET", "/v1/me/player/currently-playing"): "currently_playing",
    ("GET", "/v1/me/player/recently-played"): "recently_played",
    ("PUT", "/v1/me/player/play"): "play",
    ("PUT", "/v1/me/player/pause"): "pause",
    ("POST", "/v1/me/player/next"): "next",
    ("POST", "/v1/me/player/previous"): "previous",
}


class InjectedConnectionReset(ConnectionResetError):
    """Raised after the response has started, so the server drops the connection mid-reply."""


class FaultInjection:
    def __init__(self, app: ASGIApp, fake: FakeSpotify) -> None:
        self.app = app
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.fake.faults.faults:
            await self.app(scope, receive, send)
            return
        endpoint = _ROUTES.get((scope["method"], scope["path"].rstrip("/") or "/"))
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        struck = self.fake.faults.strike(endpoint, self.fake.now_ms())
        delay_ms = sum(fault.latency_ms for fault in struck if fault.kind == "latency")
        if delay_ms:
            # Latency is real time even on a manual clock: it exists to trip client timeouts.
            await asyncio.sleep(delay_ms / 1000)
        failure = next((fault for fault in struck if fault.kind != "latency"), None)
        if failure is None:
            await self.app(scope, receive, send)
            return
        await self._fail(failure, endpoint, send)

    async def _fail(self, fault: Fault, endpoint: str, send: Send) -> None:
        headers = [(b"content-type", b"application/json")]
        if fault.kind == "connection_reset":
            start = [*headers, (b"content-length", b"4096")]
            await send({"type": "http.response.start", "status": 200, "headers": start})
            raise InjectedConnectionReset("injected fault: connection reset")
        if fault.kind == "rate_limit":
            status, message = 429, "API rate limit exceeded"
            if fault.retry_after_format == "http-date":
                # Waiting is real time for the client, whatever the fake's clock says.
                retry_after = _http_date(time.time() + fault.retry_after_s)
            else:
                retry_after = str(fault.retry_after_s)
            headers.append((b"retry-after", retry_after.encode()))
        else:
            status, message = fault.status, "Service unavailable"
        body: dict[str, object]
        if endpoint in ("token", "authorize"):
            error = "rate_limited" if status == 429 else "server_error"
            body = {"error": error, "error_description": message}
        else:
            body = {"error": {"status": status, "message": message}}
        payload = orjson.dumps(body)
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def _http_date(epoch_s: float) -> str:
    return format_datetime(datetime.fromtimestamp(epoch_s, tz=UTC), usegmt=True)
