"""Password throttling through auth's HTTP API: which address is counted, and that no one can
turn the counters against the owner or against everyone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.auth.integration.edge import from_gateway

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"
OWNER = "ada@example.com"


async def signup(http: httpx.AsyncClient, email: str = OWNER) -> None:
    response = await http.post("/api/auth/signup", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text


async def login(
    http: httpx.AsyncClient,
    address: str,
    *,
    email: str = OWNER,
    password: str = PASSWORD,
) -> httpx.Response:
    return await http.post(
        "/api/auth/login",
        json={"email": email, "password": password},
        headers=from_gateway(address),
    )


async def change_password(
    http: httpx.AsyncClient, access_token: str, address: str, current: str
) -> httpx.Response:
    return await http.post(
        "/api/auth/password",
        json={"current_password": current, "new_password": NEW_PASSWORD},
        headers={**from_gateway(address), "Authorization": f"Bearer {access_token}"},
    )


def forwarded_for(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address, "X-Real-IP": address, "Forwarded": f"for={address}"}


def signed_with_another_secret(address: str) -> dict[str, str]:
    return from_gateway(address, secret="a-secret-the-attacker-made-up")


def signed_too_long_ago(address: str) -> dict[str, str]:
    return from_gateway(address, age_s=120)


def signed_for_another_request(address: str) -> dict[str, str]:
    # A header seen on one request, replayed on another.
    return {**from_gateway(address), "x-request-id": "another-request"}


FORGERIES: list[Callable[[str], dict[str, str]]] = [
    forwarded_for,
    signed_with_another_secret,
    signed_too_long_ago,
    signed_for_another_request,
]


@pytest.mark.parametrize("forge", FORGERIES, ids=lambda forge: forge.__name__)
async def test_a_caller_cannot_have_its_failures_counted_at_someone_else_s_address(
    auth: Any, forge: Callable[[str], dict[str, str]]
) -> None:
    await signup(auth.http)
    owner_address = "203.0.113.10"
    for _ in range(6):
        await auth.http.post(
            "/api/auth/login",
            json={"email": OWNER, "password": "wrong guess"},
            headers=forge(owner_address),
        )

    owner = await login(auth.http, owner_address)
    attacker_again = await auth.http.post(
        "/api/auth/login",
        json={"email": OWNER, "password": "wrong guess"},
        headers=forge("192.0.2.200"),
    )

    assert owner.status_code == 200, owner.text
    # Counted at the attacker's own connection, whatever address it claimed.
    assert attacker_again.status_code == 429
    assert attacker_again.json()["code"] == "too_many_attempts"


async def test_wrong_current_passwords_are_throttled_like_sign_ins(auth: Any) -> None:
    await signup(auth.http)
    address = "203.0.113.10"
    tokens = (await login(auth.http, address)).json()
    guesses = [
        await change_password(auth.http, tokens["access_token"], address, f"guess {n}")
        for n in range(5)
    ]

    throttled = await change_password(auth.http, tokens["access_token"], address, "guess 6")
    right_one_too_soon = await change_password(auth.http, tokens["access_token"], address, PASSWORD)
    old_password_elsewhere = await login(auth.http, "192.0.2.30")

    assert [g.status_code for g in guesses] == [403] * 5
    assert {g.json()["code"] for g in guesses} == {"wrong_password"}
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "too_many_attempts"
    assert int(throttled.headers["retry-after"]) >= 1
    assert right_one_too_soon.status_code == 429
    # Nothing changed: the password is still the old one.
    assert old_password_elsewhere.status_code == 200


async def test_password_change_guesses_count_toward_sign_in_from_the_same_address(
    auth: Any,
) -> None:
    await signup(auth.http)
    address = "203.0.113.10"
    tokens = (await login(auth.http, address)).json()
    for n in range(5):
        await change_password(auth.http, tokens["access_token"], address, f"guess {n}")

    sign_in_there = await login(auth.http, address, password="yet another guess")
    sign_in_elsewhere = await login(auth.http, "192.0.2.30")

    assert sign_in_there.status_code == 429
    assert sign_in_elsewhere.status_code == 200


async def test_a_password_change_at_auth_directly_counts_the_connection_address(
    auth: Any,
) -> None:
    await signup(auth.http)
    tokens = (await login(auth.http, "203.0.113.10")).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    for n in range(5):
        await auth.http.post(
            "/api/auth/password",
            json={"current_password": f"guess {n}", "new_password": NEW_PASSWORD},
            headers={**bearer, **forwarded_for(f"192.0.2.{n + 1}")},
        )

    throttled = await auth.http.post(
        "/api/auth/password",
        json={"current_password": "guess 6", "new_password": NEW_PASSWORD},
        headers={**bearer, **forwarded_for("192.0.2.99")},
    )
    owner = await login(auth.http, "203.0.113.10")

    assert throttled.status_code == 429
    assert owner.status_code == 200


async def test_an_account_guessed_at_from_many_addresses_still_lets_its_owner_in(
    start_app: Any,
) -> None:
    # A low account allowance, so that a handful of attacker addresses exceed it.
    auth = await start_app(throttle_account_free_failures=6)
    await signup(auth.http)
    known = "203.0.113.10"
    assert (await login(auth.http, known)).status_code == 200
    attackers = [f"192.0.2.{n}" for n in range(1, 5)]
    for attacker in attackers:
        for _ in range(2):
            assert (await login(auth.http, attacker, password="guess")).status_code == 401

    held_attacker = await login(auth.http, attackers[0], password="guess")
    owner_known = await login(auth.http, known)
    owner_fresh = await login(auth.http, "198.51.100.200")

    # 8 failures: the account rule holds the addresses that failed at the account ...
    assert held_attacker.status_code == 429
    # ... while the owner, at a known address or at a new one, gets in.
    assert owner_known.status_code == 200
    assert owner_fresh.status_code == 200


async def test_an_address_that_failed_at_many_accounts_does_not_hold_the_accounts_it_knows(
    start_app: Any,
) -> None:
    auth = await start_app(throttle_address_free_failures=6)
    await signup(auth.http)
    await signup(auth.http, "bo@example.com")
    shared = "203.0.113.10"
    assert (await login(auth.http, shared)).status_code == 200
    for n in range(6):
        response = await login(auth.http, shared, email=f"guess-{n}@example.com")
        assert response.status_code == 401

    stranger_there = await login(auth.http, shared, email="bo@example.com")
    owner_there = await login(auth.http, shared)
    someone_elsewhere = await login(auth.http, "192.0.2.30", email="bo@example.com")

    assert stranger_there.status_code == 429
    assert owner_there.status_code == 200
    assert someone_elsewhere.status_code == 200


async def test_the_password_route_documents_the_throttling_answer(auth: Any) -> None:
    spec = (await auth.http.get("/openapi.json")).json()
    responses = spec["paths"]["/api/auth/password"]["post"]["responses"]
    assert {"401", "403", "422", "429"} <= responses.keys()
