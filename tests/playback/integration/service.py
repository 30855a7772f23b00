"""The playback service served over real sockets for API tests: user tokens, stand-ins for
auth's token endpoint and for tokens' hand-out, and a Server-Sent Events reader."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qs

import httpx
import orjson
import uvicorn
from fastapi import Depends, FastAPI, Path, Request
from fastapi.responses import JSONResponse

from backbeat.authn.claims import ServicePrincipal
from backbeat.authn.dependencies import install_verifier, require_service
from backbeat.authn.testing import TokenForge
from backbeat.authn.verifier import TokenVerifier
from backbeat.runtime.problems import ProblemError, install_problem_handlers
from backbeat.runtime.testing import free_port

ISSUER = "http://auth.test"
FORGE = TokenForge(issuer=ISSUER, user_audience="backbeat", service_audience="tokens")


# What tokens requires of a caller of its hand-out.
Service = Annotated[ServicePrincipal, Depends(require_service("tokens:read"))]


def new_user() -> str:
    """A user id as auth makes them (a UUID): tokens carry it as their subject."""
    return str(uuid.uuid4())


def bearer(user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {FORGE.user_token(sub=user_id)}"}


@asynccontextmanager
async def served(app: Any, *, timeout_s: float = 30.0) -> AsyncIterator[str]:
    """Serve ``app`` (lifespan included) with uvicorn on a loopback port; yields its URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
        )
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the server stopped before it started")
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


# -- stand-ins for auth's token endpoint and tokens' hand-out ----------------------------------


def auth_token_endpoint() -> FastAPI:
    """Auth's client-credentials grant, answering every client with a tokens:read token."""
    app = FastAPI()

    @app.post("/oauth/token")
    async def token(request: Request) -> dict[str, Any]:
        form = parse_qs((await request.body()).decode())
        assert form["grant_type"] == ["client_credentials"]
        return {
            "access_token": FORGE.service_token("playback", "tokens:read", aud=form["audience"][0]),
            "token_type": "Bearer",
            "expires_in": 600,
        }

    return app


@dataclass
class HandOuts:
    """What the stand-in tokens service answers per user: a token, or a refusal."""

    tokens: dict[str, list[str]] = field(default_factory=dict)
    refusals: dict[str, tuple[int, str]] = field(default_factory=dict)
    asked_for: list[str] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()
        install_problem_handlers(app)
        install_verifier(
            app,
            TokenVerifier(
                FORGE.key_source(), issuer=ISSUER, user_audience=None, service_audience="tokens"
            ),
        )

        @app.get("/internal/v1/users/{user_id}/spotify/access-token")
        async def access_token(user_id: Annotated[str, Path()], caller: Service) -> Any:
            self.asked_for.append(user_id)
            if user_id in self.refusals:
                status, code = self.refusals[user_id]
                headers = {"Retry-After": "11"} if status == 503 else None
                raise ProblemError(status, code, code, headers=headers)
            queue = self.tokens.get(user_id)
            if not queue:
                raise ProblemError(404, "not_connected", "The user has no Spotify connection")
            # The first token is handed out until the test queues another behind it.
            token = queue.pop(0) if len(queue) > 1 else queue[0]
            return JSONResponse({"access_token": token, "expires_at": "2099-01-01T00:00:00Z"})

        return app


# -- Server-Sent Events -----------------------------------------------------------------------


@dataclass(frozen=True)
class ServerSentEvent:
    id: str | None
    event: str | None
    data: Any


class EventReader:
    """Reads frames from an open ``text/event-stream`` response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()
        self.comments = 0

    async def next(self, timeout_s: float = 30.0) -> ServerSentEvent:
        return await asyncio.wait_for(self._next(), timeout_s)

    async def _next(self) -> ServerSentEvent:
        fields: dict[str, str] = {}
        async for line in self.lines:
            if line == "":
                if "data" in fields:
                    return ServerSentEvent(
                        fields.get("id"), fields.get("event"), orjson.loads(fields["data"])
                    )
                fields = {}
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        raise EOFError("the stream ended")

    async def until(self, predicate: Any, timeout_s: float = 30.0) -> list[ServerSentEvent]:
        """Every event up to and including the first for which ``predicate`` holds."""
        seen: list[ServerSentEvent] = []
        deadline = time.monotonic() + timeout_s
        while True:
            event = await self.next(max(0.1, deadline - time.monotonic()))
            seen.append(event)
            if predicate(event):
                return seen


@asynccontextmanager
async def event_stream(
    http: httpx.AsyncClient, url: str, user_id: str, last_event_id: str | None = None
) -> AsyncIterator[EventReader]:
    headers = bearer(user_id)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    async with http.stream("GET", f"{url}/api/playback/stream", headers=headers) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield EventReader(response)
