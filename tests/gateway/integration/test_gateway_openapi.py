"""The merged public API document through a running gateway."""

from __future__ import annotations

import httpx
import pytest

from backbeat.gateway.domain.routes import PUBLIC_OPERATIONS
from backbeat.runtime.testing import ServiceProcess
from tests.gateway.stack import Stack

pytestmark = pytest.mark.integration


def test_the_public_document_has_exactly_the_public_table_s_operations(
    gateway: ServiceProcess,
) -> None:
    response = httpx.get(f"{gateway.url}/api/openapi.json", timeout=30)
    assert response.status_code == 200
    document = response.json()
    operations = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    assert operations == {(op.method, op.path) for op in PUBLIC_OPERATIONS}
    assert "x-missing-operations" not in response.headers
    assert not any(
        path.startswith(("/internal", "/oauth", "/.well-known")) for path in document["paths"]
    )


def test_the_document_names_operations_of_a_service_it_cannot_reach(stack: Stack) -> None:
    gateway = stack.gateway("gateway-no-playback", playback_url="http://127.0.0.1:9")
    response = httpx.get(f"{gateway.url}/api/openapi.json", timeout=30)
    assert response.status_code == 200
    assert "GET /api/playback/now" in response.headers["x-missing-operations"]
    assert "/api/auth/login" in response.json()["paths"]
    assert not any(path.startswith("/api/playback") for path in response.json()["paths"])
