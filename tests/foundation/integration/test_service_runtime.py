"""A service built on the runtime: health, readiness against real dependencies, metrics,
request ids and problem details."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from backbeat.runtime.database import Database
from backbeat.runtime.http import create_service_app
from backbeat.runtime.kafka import kafka_ping
from backbeat.runtime.problems import ProblemError
from backbeat.runtime.testing import free_port

pytestmark = pytest.mark.integration


def build_app(database_url: str, kafka_bootstrap: str) -> tuple[FastAPI, Database]:
    db = Database(database_url)

    async def kafka_ready() -> None:
        await kafka_ping(kafka_bootstrap, timeout_s=1.5)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await db.dispose()

    app = create_service_app(
        service="example",
        title="Example",
        lifespan=lifespan,
        readiness={"database": db.ping, "kafka": kafka_ready},
    )

    @app.get("/things/{thing_id}")
    async def get_thing(thing_id: int) -> dict[str, int]:
        if thing_id != 1:
            raise ProblemError(404, "thing_not_found", "No such thing", f"thing {thing_id}")
        return {"id": 1}

    return app, db


async def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


async def test_ready_when_database_and_kafka_answer(
    database_urls: dict[str, str], kafka_bootstrap: str
) -> None:
    app, db = build_app(database_urls["playback"], kafka_bootstrap)
    async with await client_for(app) as client:
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")
    await db.dispose()
    assert live.status_code == 200
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "kafka": "ok"}


async def test_not_ready_when_the_database_is_unreachable(kafka_bootstrap: str) -> None:
    app, db = build_app(
        "postgresql+asyncpg://playback:wrong@127.0.0.1:1/playback_test", kafka_bootstrap
    )
    async with await client_for(app) as client:
        ready = await client.get("/health/ready")
    await db.dispose()
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("failing")
    assert ready.json()["checks"]["kafka"] == "ok"
    assert "wrong" not in ready.text  # the password in the URL never leaks


async def test_not_ready_when_kafka_is_unreachable(database_urls: dict[str, str]) -> None:
    app, db = build_app(database_urls["playback"], f"127.0.0.1:{free_port()}")
    async with await client_for(app) as client:
        ready = await client.get("/health/ready")
    await db.dispose()
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["kafka"].startswith("failing")


async def test_errors_are_problem_details_with_a_stable_code_and_the_request_id(
    database_urls: dict[str, str], kafka_bootstrap: str
) -> None:
    app, db = build_app(database_urls["playback"], kafka_bootstrap)
    async with await client_for(app) as client:
        missing = await client.get("/things/2", headers={"x-request-id": "abc-123"})
        invalid = await client.get("/things/not-a-number")
        unknown = await client.get("/nowhere")
        metrics = await client.get("/metrics")
    await db.dispose()
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["x-request-id"] == "abc-123"
    assert missing.json() == {
        "type": "https://backbeat.dev/problems/thing_not_found",
        "title": "No such thing",
        "status": 404,
        "detail": "thing 2",
        "code": "thing_not_found",
        "request_id": "abc-123",
    }
    assert invalid.status_code == 422 and invalid.json()["code"] == "validation_error"
    assert invalid.json()["errors"][0]["loc"] == ["path", "thing_id"]
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    assert len(unknown.headers["x-request-id"]) == 32  # generated when the caller sent none
    assert 'http_requests_total{method="GET",route="/things/{thing_id}",status="404"} 1.0' in (
        metrics.text
    )
