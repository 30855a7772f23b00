"""Runs a service's ASGI app under uvicorn with the runtime's logging and graceful shutdown."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from backbeat.runtime.logging import configure_logging
from backbeat.runtime.settings import ServiceSettings


def serve(app: FastAPI, settings: ServiceSettings, service: str) -> None:
    """Serve until SIGTERM/SIGINT; uvicorn then drains requests and runs the app's shutdown,
    which stops producers (flushing what is buffered) and consumers (committing offsets)."""
    configure_logging(service, settings.log_level)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        proxy_headers=False,
    )
