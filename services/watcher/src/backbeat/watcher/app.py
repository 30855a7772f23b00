"""Wires the watcher service: the HTTP side (health, readiness, metrics) and the watcher
running in its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from backbeat.runtime.http import create_service_app
from backbeat.runtime.kafka import kafka_ping
from backbeat.watcher.settings import WatcherSettings
from backbeat.watcher.workers.metrics import WatcherMetrics
from backbeat.watcher.workers.watcher import Watcher


def create_app(settings: WatcherSettings | None = None) -> FastAPI:
    settings = settings or WatcherSettings()
    watcher: Watcher | None = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal watcher
        watcher = Watcher(settings, metrics=WatcherMetrics(app.state.metrics_registry))
        app.state.watcher = watcher
        await watcher.start()
        try:
            yield
        finally:
            await watcher.stop()

    async def kafka_ready() -> None:
        await kafka_ping(settings.kafka_bootstrap)

    async def scheduler_ready() -> None:
        if watcher is None:
            raise RuntimeError("not started")
        await watcher.check_ready()

    app = create_service_app(
        service="watcher",
        title="Backbeat watcher",
        lifespan=lifespan,
        readiness={"kafka": kafka_ready, "scheduler": scheduler_ready},
    )
    app.state.settings = settings
    return app
