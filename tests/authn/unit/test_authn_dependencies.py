"""The FastAPI dependencies answer 401/403 problem details with stable codes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import Depends

from backbeat.authn import (
    ServicePrincipal,
    TokenVerifier,
    UserPrincipal,
    current_user,
    install_verifier,
    require_service,
)
from backbeat.authn.testing import TokenForge, negative_matrix
from backbeat.runtime.http import create_service_app

FORGE = TokenForge(issuer="http://auth.test", user_audience="backbeat", service_audience="tokens")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_service_app(service="demo", title="demo")
    install_verifier(
        app,
        TokenVerifier(
            FORGE.key_source(),
            issuer="http://auth.test",
            user_audience="backbeat",
            service_audience="tokens",
        ),
    )

    @app.get("/mine")
    async def mine(user: Annotated[UserPrincipal, Depends(current_user)]) -> dict[str, str]:
        return {"user_id": str(user.user_id)}

    @app.get("/internal")
    async def internal(
        caller: Annotated[ServicePrincipal, Depends(require_service("tokens:read"))],
    ) -> dict[str, str]:
        return {"client_id": caller.client_id}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
        yield http


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_user_reaches_a_user_route(client: httpx.AsyncClient) -> None:
    user_id = str(uuid.uuid4())
    response = await client.get("/mine", headers=bearer(FORGE.user_token(sub=user_id)))
    assert response.status_code == 200
    assert response.json() == {"user_id": user_id}


async def test_no_token_is_401_missing_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/mine")
    assert response.status_code == 401
    assert response.json()["code"] == "missing_token"
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("case", negative_matrix(FORGE), ids=lambda c: c.name)
async def test_hostile_tokens_get_401_with_their_code(
    client: httpx.AsyncClient, case: object
) -> None:
    response = await client.get("/mine", headers=bearer(case.token))  # type: ignore[attr-defined]
    expected = "missing_token" if case.token == "" else case.reason.value  # type: ignore[attr-defined]
    assert response.status_code == 401
    assert response.json()["code"] == expected
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_service_token_on_a_user_route_is_401_wrong_token_type(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/mine", headers=bearer(FORGE.service_token("watcher", "tokens:read"))
    )
    assert response.status_code == 401
    assert response.json()["code"] == "wrong_token_type"


async def test_a_user_token_on_a_service_route_is_401_wrong_token_type(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/internal", headers=bearer(FORGE.user_token()))
    assert response.status_code == 401
    assert response.json()["code"] == "wrong_token_type"


async def test_a_service_with_the_scope_reaches_the_service_route(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/internal", headers=bearer(FORGE.service_token("watcher", "tokens:read"))
    )
    assert response.status_code == 200
    assert response.json() == {"client_id": "watcher"}


async def test_a_service_without_the_scope_is_403_insufficient_scope(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/internal", headers=bearer(FORGE.service_token("watcher", "tokens:write"))
    )
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
