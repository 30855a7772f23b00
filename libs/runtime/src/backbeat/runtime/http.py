"""The HTTP side every service shares: request ids, metrics, health endpoints, problem details."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any, TypeVar

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backbeat.runtime.database import Database
from backbeat.runtime.kafka import kafka_ping
from backbeat.runtime.logging import request_id_var, trace_id_var
from backbeat.runtime.outages import (
    DEPENDENCIES,
    DependencyCollector,
    outages,
    probe,
    watch_outages,
)
from backbeat.runtime.problems import (
    PROBLEM_CONTENT_TYPE,
    install_problem_handlers,
    internal_error_body,
)

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[None]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    """Gives every request an id (kept from the caller when well-formed), logs and measures it.

    A plain ASGI middleware rather than BaseHTTPMiddleware, so streamed responses (SSE) pass
    through without buffering.
    """

    def __init__(self, app: ASGIApp, registry: CollectorRegistry, service: str) -> None:
        self.app = app
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to the response head",
            ["method", "route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        traceparent = headers.get("traceparent", "")
        trace_id = traceparent.split("-")[1] if traceparent.count("-") == 3 else request_id
        scope.setdefault("state", {})["request_id"] = request_id
        token_r = request_id_var.set(request_id)
        token_t = trace_id_var.set(trace_id)
        started = time.perf_counter()
        status = 500
        responded = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status = message["status"]
                responded = True
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
                route = scope.get("route")
                path = getattr(route, "path", "unmatched")
                self.latency.labels(scope["method"], path).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if responded:
                # The head is out: breaking the connection (by raising) is the only way left
                # to tell the caller that the body is incomplete.
                raise
            route = scope.get("route")
            log.exception(
                "unhandled error",
                extra={"method": scope["method"], "route": getattr(route, "path", "unmatched")},
            )
            # Answered here rather than left to the server: the server would answer too, but
            # then close the connection, and a proxy that pooled it would fail the next
            # request it sends on it, someone else's.
            body = internal_error_body(request_id)
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send_with_id({"type": "http.response.body", "body": body})
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.requests.labels(scope["method"], path, str(status)).inc()
            request_id_var.reset(token_r)
            trace_id_var.reset(token_t)


T = TypeVar("T")


def from_app_state(attribute: str, kind: type[T]) -> Callable[[Request], T]:
    """A route dependency giving what the app keeps as ``app.state.<attribute>``, checked to
    be a ``kind``: ``Annotated[Database, Depends(from_app_state("database", Database))]`` in a
    route's signature rather than ``request.app.state`` in its body."""

    def dependency(request: Request) -> T:
        value = getattr(request.app.state, attribute)
        if not isinstance(value, kind):
            raise TypeError(f"app.state.{attribute} is not a {kind.__name__}")
        return value

    return dependency


def create_service_app(
    *,
    service: str,
    title: str,
    version: str = "0.1.0",
    lifespan: Lifespan | None = None,
    readiness: Mapping[str, ReadinessCheck] | None = None,
    database: Database | None = None,
    kafka_bootstrap: str | None = None,
    metrics_route: bool = True,
    **fastapi_options: Any,
) -> FastAPI:
    """A FastAPI app with ``/health/live``, ``/health/ready``, ``/metrics`` and problem details.

    ``readiness`` maps a dependency name to a check that raises when it does not answer; the
    service is ready when every check passes within two seconds. The checks named ``kafka``
    and ``database`` also probe those dependencies during an outage, to tell its end, and
    ``backbeat_dependency_up`` reports them. ``database`` and ``kafka_bootstrap`` add those
    two checks (a ping of each) for a service that uses them. Without ``metrics_route`` the
    app has no ``/metrics``: a service whose port is public serves its metrics apart
    (``metrics_listener``).
    """
    registry = CollectorRegistry()
    checks: dict[str, ReadinessCheck] = {}
    if database is not None:
        checks["database"] = database.ping
    if kafka_bootstrap is not None:
        checks["kafka"] = partial(kafka_ping, kafka_bootstrap)
    checks.update(readiness or {})
    registry.register(DependencyCollector(outages, [n for n in checks if n in DEPENDENCIES]))

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        log.info("starting", extra={"service": service})
        watching = asyncio.create_task(
            watch_outages(outages, app.state.readiness), name="dependency-outages"
        )
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
        log.info("stopped", extra={"service": service})

    app = FastAPI(title=title, version=version, lifespan=run, **fastapi_options)
    app.state.metrics_registry = registry
    app.state.readiness = checks
    install_problem_handlers(app)
    app.add_middleware(RequestContextMiddleware, registry=registry, service=service)

    @app.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        results: dict[str, str] = {}

        async def run_check(name: str, check: ReadinessCheck) -> None:
            try:
                if name in DEPENDENCIES:
                    await probe(outages, name, check, timeout_s=2.0)
                else:
                    await asyncio.wait_for(check(), timeout=2.0)
                results[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported
                results[name] = f"failing: {type(exc).__name__}"

        await asyncio.gather(*(run_check(n, c) for n, c in app.state.readiness.items()))
        ok = all(v == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": results},
            status_code=200 if ok else 503,
        )

    if metrics_route:

        @app.get("/metrics", include_in_schema=False)
        async def metrics(request: Request) -> Response:
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


@asynccontextmanager
async def metrics_listener(registry: CollectorRegistry, host: str, port: int) -> AsyncIterator[int]:
    """Serves ``registry`` at ``/metrics`` on a port of its own (reachable by the scraper's
    network only) while the context lasts; yields the port (``port`` 0 picks a free one)."""
    server, _ = start_http_server(port, addr=host, registry=registry)
    try:
        yield server.server_port
    finally:
        # shutdown() waits up to half a second for the serving thread to notice.
        await asyncio.to_thread(server.shutdown)
        server.server_close()
