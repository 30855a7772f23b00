"""A fault nobody foresaw, in any service built on the runtime: a 500 problem with the request
id and nothing of the fault, answered by the service itself so its server keeps the
connection; after the response head, the connection breaks (the body is incomplete)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi.responses import StreamingResponse

from backbeat.runtime.http import create_service_app


def failing_app() -> httpx.AsyncClient:
    app = create_service_app(service="fails", title="fails")

    @app.get("/fault")
    async def fault() -> None:
        raise RuntimeError("lost the pool at postgresql://svc:hunter2@db/x")

    @app.get("/late-fault")
    async def late_fault() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"partial"
            raise RuntimeError("after the head")

        return StreamingResponse(body())

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


async def test_an_unforeseen_fault_is_a_500_problem_with_the_request_id_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with failing_app() as client:
        with caplog.at_level(logging.ERROR):
            response = await client.get("/fault", headers={"x-request-id": "req-42"})

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "req-42"
    assert response.json() == {
        "type": "https://backbeat.dev/problems/internal_error",
        "title": "Something went wrong on our side",
        "status": 500,
        "code": "internal_error",
        "request_id": "req-42",
    }
    # The fault is in the log, for whoever quotes the request id.
    assert any(record.exc_info for record in caplog.records)


async def test_a_fault_after_the_response_head_breaks_the_response() -> None:
    async with failing_app() as client:
        with pytest.raises(RuntimeError, match="after the head"):
            await client.get("/late-fault")


async def test_the_service_still_answers_after_a_fault() -> None:
    async with failing_app() as client:
        assert (await client.get("/fault")).status_code == 500
        assert (await client.get("/health/live")).status_code == 200
