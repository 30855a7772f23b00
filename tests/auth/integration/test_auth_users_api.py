"""Sign-up, sign-in, sessions and refresh through auth's HTTP API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from backbeat.auth.store.tables import users
from tests.auth.integration.edge import from_gateway

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


async def signup(http: httpx.AsyncClient, email: str = "ada@example.com") -> str:
    response = await http.post("/api/auth/signup", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return str(response.json()["user_id"])


async def login(
    http: httpx.AsyncClient,
    email: str = "ada@example.com",
    password: str = PASSWORD,
    address: str = "203.0.113.10",
) -> httpx.Response:
    return await http.post(
        "/api/auth/login",
        json={"email": email, "password": password},
        headers=from_gateway(address),
    )


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_signup_then_login_gives_tokens_and_me_shows_the_user(auth: Any) -> None:
    user_id = await signup(auth.http)

    response = await login(auth.http)
    tokens = response.json()
    me = await auth.http.get("/api/auth/me", headers=bearer(tokens))

    assert response.status_code == 200
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 600
    assert tokens["refresh_token"].startswith("bbr_")
    assert response.headers["cache-control"] == "no-store"
    assert me.status_code == 200
    assert me.json()["user_id"] == user_id
    assert me.json()["email"] == "ada@example.com"


async def test_signing_up_twice_with_the_same_email_is_409_email_taken(auth: Any) -> None:
    await signup(auth.http)
    response = await auth.http.post(
        "/api/auth/signup", json={"email": "ADA@Example.com", "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"


async def test_a_short_password_is_refused_and_not_echoed(auth: Any) -> None:
    response = await auth.http.post(
        "/api/auth/signup", json={"email": "bo@example.com", "password": "short7!"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "password_too_short"
    assert "short7!" not in response.text


async def test_unknown_user_and_wrong_password_get_the_same_answer(auth: Any) -> None:
    await signup(auth.http)

    wrong_password = await login(auth.http, password="not the password")
    unknown_user = await login(auth.http, email="nobody@example.com")

    assert wrong_password.status_code == unknown_user.status_code == 401
    body_a, body_b = wrong_password.json(), unknown_user.json()
    body_a.pop("request_id")
    body_b.pop("request_id")
    assert body_a == body_b
    assert body_a["code"] == "invalid_credentials"


async def test_refresh_rotates_and_the_old_refresh_token_stops_working(auth: Any) -> None:
    await signup(auth.http)
    first = (await login(auth.http)).json()

    second = await auth.http.post(
        "/api/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )

    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    me = await auth.http.get("/api/auth/me", headers=bearer(second.json()))
    assert me.status_code == 200


async def test_reusing_a_rotated_refresh_token_ends_the_whole_session(auth: Any) -> None:
    await signup(auth.http)
    first = (await login(auth.http)).json()
    second = (
        await auth.http.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()

    reuse = await auth.http.post(
        "/api/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    legit_next = await auth.http.post(
        "/api/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    me = await auth.http.get("/api/auth/me", headers=bearer(second))

    assert reuse.status_code == 401
    assert reuse.json()["code"] == "refresh_token_reused"
    assert legit_next.status_code == 401
    assert legit_next.json()["code"] == "session_revoked"
    assert me.status_code == 401
    assert me.json()["code"] == "session_revoked"


async def test_reuse_in_one_session_leaves_the_users_other_sessions_alone(auth: Any) -> None:
    await signup(auth.http)
    phone = (await login(auth.http)).json()
    laptop = (await login(auth.http)).json()
    await auth.http.post("/api/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    await auth.http.post("/api/auth/refresh", json={"refresh_token": phone["refresh_token"]})

    response = await auth.http.post(
        "/api/auth/refresh", json={"refresh_token": laptop["refresh_token"]}
    )

    assert response.status_code == 200


async def test_an_unknown_refresh_token_is_401(auth: Any) -> None:
    response = await auth.http.post("/api/auth/refresh", json={"refresh_token": "bbr_made_up"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_refresh_token"


async def test_logout_ends_the_session_and_its_refresh_token(auth: Any) -> None:
    await signup(auth.http)
    tokens = (await login(auth.http)).json()

    out = await auth.http.post("/api/auth/logout", headers=bearer(tokens))
    refresh = await auth.http.post(
        "/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )

    assert out.status_code == 204
    assert refresh.status_code == 401
    assert refresh.json()["code"] == "session_revoked"


async def test_changing_the_password_ends_every_session(auth: Any) -> None:
    await signup(auth.http)
    phone = (await login(auth.http)).json()
    laptop = (await login(auth.http)).json()

    changed = await auth.http.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=bearer(laptop),
    )
    phone_refresh = await auth.http.post(
        "/api/auth/refresh", json={"refresh_token": phone["refresh_token"]}
    )
    old_login = await login(auth.http)
    new_login = await login(auth.http, password="a brand new passphrase")

    assert changed.status_code == 204
    assert phone_refresh.json()["code"] == "session_revoked"
    assert old_login.status_code == 401
    assert new_login.status_code == 200


async def test_changing_the_password_needs_the_current_one(auth: Any) -> None:
    await signup(auth.http)
    tokens = (await login(auth.http)).json()
    response = await auth.http.post(
        "/api/auth/password",
        json={"current_password": "guess guess", "new_password": "a brand new passphrase"},
        headers=bearer(tokens),
    )
    assert response.status_code == 403
    assert response.json()["code"] == "wrong_password"


async def test_deleting_the_account_ends_it(auth: Any) -> None:
    await signup(auth.http)
    tokens = (await login(auth.http)).json()

    deleted = await auth.http.delete("/api/auth/me", headers=bearer(tokens))
    me = await auth.http.get("/api/auth/me", headers=bearer(tokens))
    again = await login(auth.http)

    assert deleted.status_code == 204
    assert me.status_code == 401
    assert again.status_code == 401


async def test_sign_in_rehashes_a_password_stored_with_older_parameters(start_app: Any) -> None:
    old = await start_app()
    await signup(old.http)
    stronger = await start_app(argon2_time_cost=3)

    response = await login(stronger.http)

    assert response.status_code == 200
    async with stronger.app.state.db.session() as session:
        stored = (await session.execute(select(users.c.password_hash))).scalar_one()
    assert "t=3" in stored


async def test_repeated_failures_from_one_address_are_throttled_with_retry_after(
    auth: Any,
) -> None:
    await signup(auth.http)
    for _ in range(5):
        assert (await login(auth.http, password="wrong guess")).status_code == 401

    throttled = await login(auth.http, password="wrong guess")
    right_password_same_address = await login(auth.http)

    assert throttled.status_code == 429
    assert throttled.json()["code"] == "too_many_attempts"
    assert int(throttled.headers["retry-after"]) >= 1
    assert right_password_same_address.status_code == 429


async def test_an_attacker_cannot_lock_the_real_user_out(auth: Any) -> None:
    await signup(auth.http)
    for _ in range(8):
        await login(auth.http, password="wrong guess", address="192.0.2.66")

    owner = await login(auth.http, address="203.0.113.10")

    assert owner.status_code == 200


async def test_openapi_documents_every_error_of_the_user_routes(auth: Any) -> None:
    spec = (await auth.http.get("/openapi.json")).json()
    login_responses = spec["paths"]["/api/auth/login"]["post"]["responses"]
    me_responses = spec["paths"]["/api/auth/me"]["get"]["responses"]
    token_responses = spec["paths"]["/oauth/token"]["post"]["responses"]
    assert {"401", "422", "429"} <= login_responses.keys()
    assert {"401", "403", "503"} <= me_responses.keys()
    assert {"400", "401"} <= token_responses.keys()
    assert (
        "application/x-www-form-urlencoded"
        in (spec["paths"]["/oauth/token"]["post"]["requestBody"]["content"])
    )


@pytest.mark.parametrize(
    "email", ["ada\u0000@example.com", "ada@exa\u0007mple.com", "ada@ex\u007f.com"]
)
async def test_an_email_with_control_characters_is_refused_as_invalid_input(
    auth: Any, email: str
) -> None:
    body = {"email": email, "password": "correct horse battery"}
    for path in ("/api/auth/signup", "/api/auth/login"):
        response = await auth.http.post(path, json=body)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["code"] == "validation_error"
