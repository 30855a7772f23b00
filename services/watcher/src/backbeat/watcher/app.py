"""Wires the watcher service: the HTTP side (health, readiness, metrics), the clients the
watcher reaches out with, and the watcher running in its lifespan."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from backbeat.authn.service_tokens import ServiceTokenAuth
from backbeat.authn.spotify_access import SpotifyAccessTokens
from backbeat.runtime.http import create_service_app
from backbeat.runtime.lifecycle import Lifecycle
from backbeat.spotify import SpotifyClient, WebApiSettings
from backbeat.watcher.adapters.clock import RealClock
from backbeat.watcher.adapters.spotify_reader import SpotifyPlaybackReader
from backbeat.watcher.settings import WatcherSettings
from backbeat.watcher.workers.metrics import WatcherMetrics
from backbeat.watcher.workers.watcher import Watcher


def create_app(settings: WatcherSettings | None = None) -> FastAPI:
    settings = settings or WatcherSettings()
    life = Lifecycle()

    async def scheduler_ready() -> None:
        watcher: Watcher | None = getattr(app.state, "watcher", None)
        if watcher is None:
            raise RuntimeError("not started")
        await watcher.check_ready()

    app = create_service_app(
        service="watcher",
        title="Backbeat watcher",
        lifespan=life.lifespan,
        kafka_bootstrap=settings.kafka_bootstrap,
        readiness={"scheduler": scheduler_ready},
    )
    app.state.settings = settings
    clock = RealClock()
    # The watcher reads the Web API with users' own tokens; the app's credentials stay with
    # the tokens service.
    spotify = SpotifyClient(
        WebApiSettings(
            api_base_url=settings.spotify_api_url,
            timeout_s=settings.spotify_timeout_s,
            max_connections=settings.max_in_flight,
        )
    )
    life.closes(spotify.aclose)
    service_tokens = settings.service_token_client()
    life.closes(service_tokens.aclose)
    tokens_http = httpx.AsyncClient(
        auth=ServiceTokenAuth(service_tokens),
        timeout=httpx.Timeout(5.0),
        limits=httpx.Limits(max_connections=settings.max_in_flight),
    )
    life.closes(tokens_http.aclose)

    def watching(watcher: Watcher) -> None:
        app.state.watcher = watcher

    life.builds(
        lambda: Watcher(
            settings,
            clock=clock,
            reader=SpotifyPlaybackReader(spotify, clock.wall_ms),
            tokens=SpotifyAccessTokens(
                settings.tokens_url, tokens_http, cache_margin_s=settings.access_token_margin_s
            ),
            metrics=WatcherMetrics(app.state.metrics_registry),
        ),
        started=watching,
    )
    return app
