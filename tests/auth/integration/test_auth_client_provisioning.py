"""Provisioning a service client with a secret the deployment holds (``clients ensure``)."""

from __future__ import annotations

from typing import Any

import pytest

from backbeat.auth.clients import ensure_client

pytestmark = pytest.mark.integration


async def client_credentials(auth: Any, secret: str, scope: str) -> int:
    response = await auth.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "audience": "tokens", "scope": scope},
        auth=("watcher", secret),
    )
    return int(response.status_code)


async def test_ensure_creates_then_updates_the_secret_and_scopes(auth: Any) -> None:
    assert await ensure_client(
        auth.app.state.db, "watcher", {"tokens"}, {"tokens:read"}, "first-secret"
    ) == ("created")
    assert await client_credentials(auth, "first-secret", "tokens:read") == 200

    outcome = await ensure_client(
        auth.app.state.db, "watcher", {"tokens"}, {"tokens:read", "tokens:admin"}, "second-secret"
    )
    assert outcome == "updated"
    assert await client_credentials(auth, "first-secret", "tokens:read") == 401
    assert await client_credentials(auth, "second-secret", "tokens:admin") == 200
