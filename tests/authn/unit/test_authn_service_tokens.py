"""The service-token client caches its token and types its failures."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

import httpx
import pytest

from backbeat.authn import (
    PermanentServiceTokenError,
    ServiceTokenAuth,
    ServiceTokenClient,
    TransientServiceTokenError,
)


class TokenEndpoint:
    def __init__(self) -> None:
        self.issued = 0
        self.status = 200
        self.last_form: dict[str, list[str]] = {}
        self.last_basic = ""

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api":
            ok = request.headers.get("authorization") == f"Bearer token-{self.issued}"
            return httpx.Response(200 if ok else 401)
        self.last_form = parse_qs(request.content.decode())
        self.last_basic = base64.b64decode(request.headers["authorization"][6:]).decode()
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "invalid_client"})
        self.issued += 1
        return httpx.Response(
            200,
            json={
                "access_token": f"token-{self.issued}",
                "token_type": "Bearer",
                "expires_in": 600,
            },
        )


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def client_for(endpoint: TokenEndpoint, clock: FakeClock) -> ServiceTokenClient:
    return ServiceTokenClient(
        "http://auth.test/oauth/token",
        client_id="watcher",
        client_secret="bbs_secret",
        audience="tokens",
        scopes=["tokens:read"],
        http=httpx.AsyncClient(transport=httpx.MockTransport(endpoint.handler)),
        clock=clock,
    )


async def test_the_token_is_reused_until_shortly_before_it_expires() -> None:
    endpoint, clock = TokenEndpoint(), FakeClock()
    client = client_for(endpoint, clock)

    first = await client.token()
    clock.now = 500
    assert await client.token() == first
    clock.now = 541

    assert await client.token() != first
    assert endpoint.issued == 2
    assert endpoint.last_form["grant_type"] == ["client_credentials"]
    assert endpoint.last_form["audience"] == ["tokens"]
    assert endpoint.last_basic == "watcher:bbs_secret"


async def test_a_refused_client_is_a_permanent_error() -> None:
    endpoint, clock = TokenEndpoint(), FakeClock()
    endpoint.status = 401

    with pytest.raises(PermanentServiceTokenError) as error:
        await client_for(endpoint, clock).token()

    assert error.value.error == "invalid_client"


async def test_a_failing_auth_is_a_transient_error() -> None:
    endpoint, clock = TokenEndpoint(), FakeClock()
    endpoint.status = 503

    with pytest.raises(TransientServiceTokenError):
        await client_for(endpoint, clock).token()


async def test_the_httpx_auth_fetches_a_new_token_when_the_target_refuses_the_old_one() -> None:
    endpoint, clock = TokenEndpoint(), FakeClock()
    client = client_for(endpoint, clock)
    await client.token()
    endpoint.issued += 1  # the target now wants a token the client has not fetched yet

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(endpoint.handler), auth=ServiceTokenAuth(client)
    ) as http:
        response = await http.get("http://api.test/api")

    assert response.status_code == 200
