"""The password routes' own budget per client address, and requests with two sets of
credentials, through the real gateway and auth.

Sign-up, sign-in and password change each cost auth an argon2id hash; at the ordinary
address rate one client could keep auth's cores busy and slow every other user's sign-in.
"""

from __future__ import annotations

import random
import uuid

import httpx
import pytest

from tests.gateway.stack import PASSWORD, Stack, sign_up

pytestmark = pytest.mark.integration


def client(address: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def fresh_address() -> str:
    return f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def test_one_address_gets_a_small_burst_of_password_attempts_then_429(stack: Stack) -> None:
    gateway = stack.gateway(
        "gateway-password-budget", password_rate_per_s="0.05", password_burst="3"
    )
    flooder, other = fresh_address(), fresh_address()
    with client(flooder) as http:
        statuses = [
            http.post(
                f"{gateway.url}/api/auth/signup",
                json={"email": f"flood-{uuid.uuid4().hex}@example.com", "password": PASSWORD},
            ).status_code
            for _ in range(3)
        ]
        assert statuses == [201, 201, 201]
        refused = http.post(
            f"{gateway.url}/api/auth/login",
            json={"email": "anyone@example.com", "password": PASSWORD},
        )
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert "password" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) >= 1
        # Routes that hash no password keep the ordinary address budget.
        not_a_token = {"refresh_token": "bbr_not-a-refresh-token"}
        assert http.post(f"{gateway.url}/api/auth/refresh", json=not_a_token).status_code == 401
    # Another client's sign-up is not held by the first one's budget.
    with client(other) as http:
        created = http.post(
            f"{gateway.url}/api/auth/signup",
            json={"email": f"other-{uuid.uuid4().hex}@example.com", "password": PASSWORD},
        )
        assert created.status_code == 201


def test_password_change_counts_against_the_same_budget(stack: Stack) -> None:
    gateway = stack.gateway(
        "gateway-password-change-budget", password_rate_per_s="0.05", password_burst="2"
    )
    address = fresh_address()
    account = sign_up(stack.main_gateway().url)
    with client(address) as http:
        statuses = [
            http.post(
                f"{gateway.url}/api/auth/password",
                json={"current_password": "not the password", "new_password": "x" * 20},
                headers=account.headers,
            ).status_code
            for _ in range(3)
        ]
    assert statuses == [403, 403, 429]


def test_a_request_with_two_authorization_headers_is_refused(stack: Stack) -> None:
    gateway = stack.main_gateway()
    account = sign_up(gateway.url)
    other = sign_up(gateway.url)
    for path in ("/api/auth/me", "/api/playback/now"):
        response = httpx.get(
            f"{gateway.url}{path}",
            headers=[
                ("authorization", f"Bearer {account.access_token}"),
                ("authorization", f"Bearer {other.access_token}"),
            ],
        )
        assert response.status_code == 400, path
        assert response.json()["code"] == "ambiguous_credentials"
    assert httpx.get(f"{gateway.url}/api/auth/me", headers=account.headers).status_code == 200
