"""The playback service's app factory: HTTP app, database, topics and consumers, wired once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from backbeat.playback.consumers.metrics import ConsumerMetrics
from backbeat.playback.consumers.runtime import PlaybackConsumers, topic_specs
from backbeat.playback.settings import PlaybackSettings
from backbeat.runtime.database import Database
from backbeat.runtime.http import create_service_app
from backbeat.runtime.kafka import ensure_topics, kafka_ping


def create_app(settings: PlaybackSettings | None = None) -> FastAPI:
    """The service: ``/health/*`` and ``/metrics`` now; the consumers run in its lifespan
    when ``settings.consume`` is on. Migrations are not run here: ``python -m
    backbeat.playback.store.migrate`` does, before the service starts."""
    settings = settings or PlaybackSettings()
    database = Database(settings.database_url, pool_size=settings.database_pool_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.database = database
        consumers: PlaybackConsumers | None = None
        try:
            await ensure_topics(settings.kafka_bootstrap, topic_specs(settings))
            if settings.consume:
                metrics = ConsumerMetrics(app.state.metrics_registry)
                consumers = PlaybackConsumers(settings, database, metrics)
                await consumers.start()
            app.state.consumers = consumers
            yield
        finally:
            try:
                if consumers is not None:
                    await consumers.stop()
            finally:
                await database.dispose()

    return create_service_app(
        service="playback",
        title="Backbeat playback",
        lifespan=lifespan,
        readiness={
            "database": database.ping,
            "kafka": partial(kafka_ping, settings.kafka_bootstrap),
        },
    )
