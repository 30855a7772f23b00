"""Server-Sent Events pass through the gateway event by event, and a caller that leaves
releases the service's stream."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from backbeat.runtime.testing import ServiceProcess
from tests.gateway.stack import Account, Stack

pytestmark = pytest.mark.integration


def events(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    event: dict[str, str] = {}
    for line in lines:
        if not line:
            if event:
                yield event
            event = {}
            continue
        field, _, value = line.partition(":")
        event[field] = value.strip()


def standin(stack: Stack, account: Account) -> dict[str, object]:
    return httpx.get(f"{stack.playback.url}/_standin/users/{account.user_id}").json()


def test_each_event_arrives_while_the_service_s_stream_is_still_open(
    stack: Stack, gateway: ServiceProcess, account: Account
) -> None:
    control = f"{stack.playback.url}/_standin/users/{account.user_id}"
    with httpx.stream(
        "GET", f"{gateway.url}/api/playback/stream", headers=account.headers, timeout=30
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-accel-buffering"] == "no"
        received = events(response.iter_lines())
        # The service holds its stream open until told to end it: nothing buffered until then.
        assert next(received)["event"] == "ready"
        pushed = httpx.post(f"{control}/events", json={"track": {"name": "Song 1"}})
        assert pushed.json() == {"streams": 1}
        first = next(received)
        assert first["id"] == "1" and "Song 1" in first["data"]
        httpx.post(f"{control}/events", json={"track": {"name": "Song 2"}})
        assert "Song 2" in next(received)["data"]
        httpx.post(f"{control}/end-streams")
        assert list(received) == []


def test_a_caller_that_leaves_closes_the_service_s_stream(
    stack: Stack, gateway: ServiceProcess, account: Account
) -> None:
    with httpx.stream(
        "GET", f"{gateway.url}/api/playback/stream", headers=account.headers, timeout=30
    ) as response:
        received = events(response.iter_lines())
        assert next(received)["event"] == "ready"
        assert standin(stack, account)["streams"] == 1
        received.close()
    deadline = time.monotonic() + 20
    while standin(stack, account)["streams"] != 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert standin(stack, account)["streams"] == 0


def test_a_stream_needs_a_user_token(gateway: ServiceProcess) -> None:
    response = httpx.get(f"{gateway.url}/api/playback/stream")
    assert response.status_code == 401
