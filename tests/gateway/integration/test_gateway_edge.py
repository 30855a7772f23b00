"""The gateway in front of the real services (and, for what forwarding does to a request, an
echo upstream): tokens checked at the edge, nothing internal reachable, ids and addresses
passed on, limits."""

from __future__ import annotations

import socket
import uuid

import httpx
import pytest

from backbeat.authn.testing import NegativeCase, TokenForge, negative_matrix
from backbeat.runtime.testing import ServiceProcess, free_port
from tests.gateway.stack import Account, Stack, connect_spotify, sign_up

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


def raw_get(url: str, raw_path: str) -> tuple[int, bytes]:
    """A GET with the path exactly as written (HTTP clients normalise dot segments)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            f"GET {raw_path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


def test_a_request_without_a_token_is_refused_at_the_edge(echo_gateway: ServiceProcess) -> None:
    # The echo upstream checks no token: a 401 can only come from the gateway.
    response = httpx.get(f"{echo_gateway.url}/api/playback/echo")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_request"'
    assert response.json()["code"] == "missing_token"


# Forged tokens (an empty one is the missing-token case: HTTP clients will not send it).
BAD_TOKENS = [c for c in negative_matrix(TokenForge(issuer="http://127.0.0.1")) if c.token]


@pytest.mark.parametrize("case", BAD_TOKENS, ids=lambda case: case.name)
def test_a_bad_token_is_refused_at_the_edge(
    echo_gateway: ServiceProcess, case: NegativeCase
) -> None:
    response = httpx.get(
        f"{echo_gateway.url}/api/playback/echo", headers={"Authorization": f"Bearer {case.token}"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer error=")
    assert response.json()["code"] in {
        "malformed_token",
        "token_too_large",
        "unsupported_algorithm",
        "unknown_key",
        "wrong_token_type",
        "missing_token",
    }


def test_a_valid_token_passes_unchanged_to_the_service(
    echo_gateway: ServiceProcess, account: Account
) -> None:
    response = httpx.get(f"{echo_gateway.url}/api/playback/echo", headers=account.headers)
    assert response.status_code == 200
    assert response.json()["authorization"] == account.headers["Authorization"]


def test_a_signed_in_user_reaches_auth_and_tokens(
    gateway: ServiceProcess, account: Account
) -> None:
    me = httpx.get(f"{gateway.url}/api/auth/me", headers=account.headers)
    assert me.status_code == 200
    assert me.json()["email"] == account.email
    connection = httpx.get(f"{gateway.url}/api/spotify/connection", headers=account.headers)
    assert connection.json()["status"] == "disconnected"


def test_connecting_spotify_through_the_gateway_and_disconnecting(
    stack: Stack, gateway: ServiceProcess, account: Account
) -> None:
    connect_spotify(gateway.url, stack.fake.url, account)
    url = f"{gateway.url}/api/spotify/connection"
    assert httpx.get(url, headers=account.headers).json()["status"] == "connected"
    assert httpx.delete(url, headers=account.headers).status_code == 204
    assert httpx.get(url, headers=account.headers).json()["status"] == "disconnected"


def test_the_spotify_callback_s_redirect_reaches_the_browser_unchanged(
    stack: Stack, gateway: ServiceProcess
) -> None:
    response = httpx.get(f"{gateway.url}/api/spotify/callback?state=never-issued&code=abc")
    assert response.status_code == 302
    assert response.headers["location"].startswith(f"http://127.0.0.1:{stack.gateway_port}/?")
    assert "spotify=error" in response.headers["location"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/internal/v1/users/{user}/spotify/access-token"),
        ("GET", "/internal/v1/users/{user}"),
        ("POST", "/oauth/token"),
        ("GET", "/.well-known/jwks.json"),
        ("GET", "/api/internal/v1/users/{user}/spotify/access-token"),
    ],
)
def test_internal_endpoints_are_never_routed(
    gateway: ServiceProcess, account: Account, method: str, path: str
) -> None:
    response = httpx.request(
        method, gateway.url + path.format(user=account.user_id), headers=account.headers
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "raw_path",
    [
        "/api/spotify/../../internal/v1/users/u1/spotify/access-token",
        "/api/spotify/%2e%2e/%2e%2e/internal/v1/users/u1/spotify/access-token",
        "/api/auth/..%2f..%2finternal/v1/users/u1",
    ],
)
def test_dot_segments_do_not_lead_to_internal_endpoints(
    gateway: ServiceProcess, raw_path: str
) -> None:
    status, body = raw_get(gateway.url, raw_path)
    assert status == 404, body
    assert b"access_token" not in body


def test_the_request_id_goes_to_the_service_and_comes_back(
    echo_gateway: ServiceProcess, account: Account
) -> None:
    request_id = f"test-{uuid.uuid4().hex}"
    response = httpx.get(
        f"{echo_gateway.url}/api/playback/echo",
        headers={**account.headers, "x-request-id": request_id},
    )
    assert response.headers["x-request-id"] == request_id
    assert response.json()["request_id"] == request_id
    # Auth's own error body names the id it received from the gateway.
    refused = httpx.post(
        f"{echo_gateway.url}/api/auth/refresh",
        json={"refresh_token": "bbr_not-a-refresh-token"},
        headers={"x-request-id": request_id},
    )
    assert refused.status_code == 401
    assert refused.headers["x-request-id"] == request_id
    assert refused.json()["request_id"] == request_id


def test_a_request_without_an_id_gets_one_that_the_service_sees_too(
    echo_gateway: ServiceProcess, account: Account
) -> None:
    response = httpx.get(f"{echo_gateway.url}/api/playback/echo", headers=account.headers)
    assert response.headers["x-request-id"]
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_services_see_the_caller_s_address_not_a_forged_one(
    echo_gateway: ServiceProcess, account: Account
) -> None:
    response = httpx.get(
        f"{echo_gateway.url}/api/playback/echo",
        headers={**account.headers, "X-Forwarded-For": "203.0.113.9"},
    )
    assert response.json()["forwarded_for"] == "127.0.0.1"


def test_a_body_over_the_limit_is_refused_with_413(
    echo_gateway: ServiceProcess, account: Account
) -> None:
    url = f"{echo_gateway.url}/api/playback/echo"
    small = httpx.post(url, content=b"x" * 1000, headers=account.headers)
    assert small.json()["body_bytes"] == 1000
    declared = httpx.post(url, content=b"x" * (100 * 1024), headers=account.headers)
    assert declared.status_code == 413
    assert declared.json()["code"] == "payload_too_large"

    def chunks() -> object:
        for _ in range(100):
            yield b"x" * 1024

    streamed = httpx.post(url, content=chunks(), headers=account.headers)  # type: ignore[arg-type]
    assert streamed.status_code == 413


def test_a_login_body_over_the_limit_is_refused_before_auth_sees_it(
    gateway: ServiceProcess,
) -> None:
    response = httpx.post(
        f"{gateway.url}/api/auth/login",
        json={"email": "a@example.com", "password": "x" * (70 * 1024)},
    )
    assert response.status_code == 413


def test_the_web_ui_is_served_with_a_strict_content_policy(gateway: ServiceProcess) -> None:
    page = httpx.get(gateway.url + "/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert 'src="/ui/app.js"' in page.text
    script = httpx.get(gateway.url + "/ui/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert httpx.get(gateway.url + "/ui/style.css").status_code == 200


def test_a_user_over_the_rate_limit_gets_429_and_others_do_not(stack: Stack) -> None:
    limited = stack.gateway(
        "gateway-user-limit", playback_url=stack.echo.url, user_rate_per_s="0.2", user_burst="3"
    )
    first, second = sign_up(limited.url), sign_up(limited.url)
    url = f"{limited.url}/api/playback/echo"
    statuses = [httpx.get(url, headers=first.headers).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = httpx.get(url, headers=first.headers)
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 5
    assert httpx.get(url, headers=second.headers).status_code == 200


def test_an_address_over_the_rate_limit_gets_429_even_without_a_token(stack: Stack) -> None:
    limited = stack.gateway("gateway-address-limit", address_rate_per_s="0.1", address_burst="5")
    url = f"{limited.url}/api/auth/refresh"
    body = {"refresh_token": "bbr_not-a-refresh-token"}
    statuses = [httpx.post(url, json=body).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    refused = httpx.post(url, json=body)
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 10


def test_a_service_that_is_down_is_a_502_naming_it(stack: Stack) -> None:
    dead_port = free_port()
    gateway = stack.gateway("gateway-dead-playback", playback_url=f"http://127.0.0.1:{dead_port}")
    account = sign_up(gateway.url)
    response = httpx.get(f"{gateway.url}/api/playback/now", headers=account.headers)
    assert response.status_code == 502
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == "upstream_unavailable"
    assert "playback" in problem["title"]
    assert str(dead_port) not in response.text
    # The other services are still served.
    assert httpx.get(f"{gateway.url}/api/auth/me", headers=account.headers).status_code == 200


def test_a_service_that_does_not_answer_in_time_is_a_504(stack: Stack) -> None:
    gateway = stack.gateway(
        "gateway-short-timeout", playback_url=stack.echo.url, response_timeout_s="1"
    )
    account = sign_up(gateway.url)
    response = httpx.get(
        f"{gateway.url}/api/playback/slow?seconds=20", headers=account.headers, timeout=30
    )
    assert response.status_code == 504
    assert response.json()["code"] == "upstream_timeout"
    assert "playback" in response.json()["title"]


def test_cors_preflight_admits_the_configured_origin_only(stack: Stack) -> None:
    gateway = stack.gateway("gateway-cors", cors_origins="http://app.example:3000")
    preflight = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    allowed = httpx.options(
        f"{gateway.url}/api/auth/me", headers={"Origin": "http://app.example:3000", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://app.example:3000"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    refused = httpx.options(
        f"{gateway.url}/api/auth/me", headers={"Origin": "http://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in refused.headers
    simple = httpx.get(f"{gateway.url}/api/auth/me", headers={"Origin": "http://app.example:3000"})
    assert simple.headers["access-control-allow-origin"] == "http://app.example:3000"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
