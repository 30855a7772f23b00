"""Builds the gateway: ``create_app(settings)`` wires the token verifier, rate limiters,
forwarder, public API document and web UI into one FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import httpx
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from backbeat.authn import JwksCache, KeySetUnavailable, TokenVerifier
from backbeat.gateway.adapters.forward import Forwarder, Timeouts
from backbeat.gateway.api.openapi import ServiceDocuments, openapi_router
from backbeat.gateway.api.proxy import proxy_router
from backbeat.gateway.api.web import web_assets, web_router
from backbeat.gateway.domain.rate_limit import GcraLimiter
from backbeat.gateway.domain.routes import Upstream
from backbeat.gateway.service.edge import Edge, EdgePolicy
from backbeat.gateway.settings import GatewaySettings
from backbeat.runtime.http import REQUEST_ID_HEADER, create_service_app, metrics_listener
from backbeat.runtime.lifecycle import Lifecycle


def create_app(
    settings: GatewaySettings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The gateway app; ``transport`` replaces the network under the forwarder in tests."""
    settings = settings or GatewaySettings()
    keys = JwksCache(settings.auth_jwks_url)
    # Ended sessions, read from auth's revocations topic: their tokens are refused here too.
    revocation_feed = settings.revocation_feed(
        settings.kafka_bootstrap, client_id="backbeat-gateway-revocations"
    )
    verifier = TokenVerifier(
        keys,
        issuer=settings.auth_issuer,
        user_audience=settings.user_audience,
        service_audience=None,
        max_lifetime_s=settings.max_token_lifetime_s,
        revocations=revocation_feed.revocations,
    )
    forwarder = Forwarder(
        {upstream: settings.upstream_url(upstream) for upstream in Upstream},
        Timeouts(
            connect_s=settings.connect_timeout_s,
            response_s=settings.response_timeout_s,
            stream_idle_s=settings.stream_idle_timeout_s,
        ),
        max_connections=settings.max_connections_per_service,
        transport=transport,
    )

    async def auth_keys_loaded() -> None:
        # Ready once the key set has been fetched: until then no protected request can pass.
        if not list(keys.kids):
            await keys.get("readiness")
        if not list(keys.kids):
            raise KeySetUnavailable("the auth key set is empty")

    life = Lifecycle()
    app = create_service_app(
        service="gateway",
        title="Backbeat gateway",
        lifespan=life.lifespan,
        readiness={"auth_keys": auth_keys_loaded, "revocations": revocation_feed.ready},
        # The public port: metrics go on a port of their own (settings.metrics_port).
        metrics_route=False,
        # The public API's document is /api/openapi.json; the gateway has none of its own.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    # Stopped in the reverse of this order.
    life.closes(keys.aclose)
    life.closes(forwarder.aclose)
    life.starts(
        partial(revocation_feed.start, wait_s=settings.revocations_wait_s), revocation_feed.stop
    )
    if settings.metrics_port is not None:
        metrics_port = settings.metrics_port

        @asynccontextmanager
        async def serving_metrics() -> AsyncIterator[None]:
            async with metrics_listener(
                app.state.metrics_registry, settings.metrics_host, metrics_port
            ) as port:
                app.state.metrics_port = port
                yield

        life.enters(serving_metrics)
    edge = Edge(
        EdgePolicy(
            verifier=verifier,
            address_limiter=GcraLimiter(
                settings.address_limit, max_keys=settings.rate_limit_max_keys
            ),
            user_limiter=GcraLimiter(settings.user_limit, max_keys=settings.rate_limit_max_keys),
            password_limiter=GcraLimiter(
                settings.password_limit, max_keys=settings.rate_limit_max_keys
            ),
            max_body_bytes=settings.max_body_bytes,
            client_address_secret=settings.edge_secret.get_secret_value().encode(),
        ),
        forwarder,
        app.state.metrics_registry,
    )
    documents = ServiceDocuments(forwarder, max_age_s=settings.openapi_cache_s)
    app.include_router(openapi_router(documents))
    app.include_router(web_router())
    app.include_router(proxy_router(edge))
    app.mount("/ui", web_assets(), name="ui")
    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["authorization", "content-type", REQUEST_ID_HEADER, "last-event-id"],
            expose_headers=[REQUEST_ID_HEADER, "retry-after", "location"],
            max_age=600,
        )
    return app
