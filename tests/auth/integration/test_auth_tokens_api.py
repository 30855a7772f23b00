"""Access tokens at auth's own API: the negative matrix, service tokens, key rotation, and a
standard JWT client reading the JWKS over a real socket."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
import uvicorn

from backbeat.auth.clients import register_client
from backbeat.auth.service.keyring import rotate_keys
from backbeat.authn import JwksCache, TokenVerifier, UserPrincipal
from backbeat.authn.testing import TokenForge, negative_matrix

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


async def user_tokens(http: httpx.AsyncClient, email: str = "ada@example.com") -> dict[str, Any]:
    await http.post("/api/auth/signup", json={"email": email, "password": PASSWORD})
    response = await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200
    tokens: dict[str, Any] = response.json()
    return tokens


async def service_token(
    http: httpx.AsyncClient, client_id: str, secret: str, **form: str
) -> httpx.Response:
    return await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **form},
        auth=(client_id, secret),
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def forge_for(auth: Any) -> TokenForge:
    """Forges with auth's real signing key, so only the one flaw of each case is wrong."""
    key = auth.app.state.keyring.signing_key()
    return TokenForge(
        issuer="http://auth.test",
        user_audience="backbeat",
        service_audience="auth",
        private_key=key.private_key,
        kid=key.kid,
    )


async def test_every_hostile_token_gets_401_with_a_stable_code_at_the_api(auth: Any) -> None:
    cases = negative_matrix(forge_for(auth))
    seen = {}
    for case in cases:
        response = await auth.http.get("/api/auth/me", headers=bearer(case.token))
        expected = "missing_token" if case.token == "" else case.reason.value
        seen[case.name] = (response.status_code, response.json()["code"])
        assert seen[case.name] == (401, expected), case.name
    assert len(seen) == len(cases) >= 15


async def test_a_service_token_where_a_user_token_is_required_is_401(auth: Any) -> None:
    secret = await register_client(auth.app.state.db, "watcher", {"auth"}, {"auth:users.read"})
    token = (await service_token(auth.http, "watcher", secret)).json()["access_token"]

    response = await auth.http.get("/api/auth/me", headers=bearer(token))

    assert response.status_code == 401
    assert response.json()["code"] == "wrong_token_type"


async def test_a_user_token_where_a_service_token_is_required_is_401(auth: Any) -> None:
    tokens = await user_tokens(auth.http)
    me = (await auth.http.get("/api/auth/me", headers=bearer(tokens["access_token"]))).json()

    response = await auth.http.get(
        f"/internal/v1/users/{me['user_id']}", headers=bearer(tokens["access_token"])
    )

    assert response.status_code == 401
    assert response.json()["code"] == "wrong_token_type"


async def test_a_service_client_gets_a_scoped_token_that_its_target_accepts(auth: Any) -> None:
    secret = await register_client(auth.app.state.db, "playback", {"auth"}, {"auth:users.read"})
    tokens = await user_tokens(auth.http)
    user_id = (await auth.http.get("/api/auth/me", headers=bearer(tokens["access_token"]))).json()[
        "user_id"
    ]

    granted = await service_token(auth.http, "playback", secret, audience="auth")
    claims = jwt.decode(granted.json()["access_token"], options={"verify_signature": False})
    lookup = await auth.http.get(
        f"/internal/v1/users/{user_id}", headers=bearer(granted.json()["access_token"])
    )

    assert granted.status_code == 200
    assert granted.headers["cache-control"] == "no-store"
    assert granted.json()["scope"] == "auth:users.read"
    assert claims["sub"] == "svc:playback"
    assert claims["typ"] == "service"
    assert lookup.status_code == 200
    assert lookup.json()["user_id"] == user_id


async def test_the_token_endpoint_answers_rfc6749_errors(auth: Any) -> None:
    secret = await register_client(auth.app.state.db, "watcher", {"tokens"}, {"tokens:read"})

    wrong_secret = await service_token(auth.http, "watcher", "bbs_wrong")
    unknown_client = await service_token(auth.http, "nobody", secret)
    bad_scope = await service_token(auth.http, "watcher", secret, scope="tokens:write")
    bad_audience = await service_token(auth.http, "watcher", secret, audience="playback")
    bad_grant = await auth.http.post(
        "/oauth/token", data={"grant_type": "password"}, auth=("watcher", secret)
    )
    as_json = await auth.http.post(
        "/oauth/token", json={"grant_type": "client_credentials"}, auth=("watcher", secret)
    )
    form_secret = await auth.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "watcher", "client_secret": secret},
    )

    assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "invalid_client")
    assert "www-authenticate" in wrong_secret.headers
    assert unknown_client.json() == wrong_secret.json()
    assert (bad_scope.status_code, bad_scope.json()["error"]) == (400, "invalid_scope")
    assert (bad_audience.status_code, bad_audience.json()["error"]) == (400, "invalid_target")
    assert bad_grant.json()["error"] == "unsupported_grant_type"
    assert as_json.json()["error"] == "invalid_request"
    assert form_secret.status_code == 200
    assert secret not in wrong_secret.text + bad_scope.text


async def test_the_client_registration_command_prints_a_working_secret_once(
    auth: Any, database_url: str
) -> None:
    env = {**os.environ, "BACKBEAT_AUTH_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "backbeat.auth.clients", "create", "--name", "watcher"]
    command += ["--audience", "tokens", "--scope", "tokens:read"]
    created = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=60
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.split("client_secret=")[1].strip()

    granted = await service_token(auth.http, "watcher", secret)

    assert granted.status_code == 200
    assert granted.json()["scope"] == "tokens:read"


async def test_a_rotated_keys_tokens_verify_until_expiry_then_fail_when_it_is_retired(
    auth: Any,
) -> None:
    keyring = auth.app.state.keyring
    old_kid = keyring.signing_key().kid
    old_token = (await user_tokens(auth.http))["access_token"]

    await rotate_keys(auth.app.state.db, keyring.sealer, keyring.schedule, now=keyring.clock())
    await keyring.reload()
    new_token = (
        await auth.http.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
    ).json()["access_token"]
    published_after_rotation = {
        k["kid"] for k in (await auth.http.get("/.well-known/jwks.json")).json()["keys"]
    }
    old_still_works = await auth.http.get("/api/auth/me", headers=bearer(old_token))

    # Past the overlap: the old key's last token has expired and the key leaves the set.
    later = keyring.clock() + keyring.schedule.overlap + timedelta(seconds=1)
    keyring.clock = lambda: later
    published_later = {
        k["kid"] for k in (await auth.http.get("/.well-known/jwks.json")).json()["keys"]
    }
    old_after_retirement = await auth.http.get("/api/auth/me", headers=bearer(old_token))

    assert jwt.get_unverified_header(new_token)["kid"] != old_kid
    assert old_kid in published_after_rotation and len(published_after_rotation) == 2
    assert old_still_works.status_code == 200
    assert published_later == {jwt.get_unverified_header(new_token)["kid"]}
    assert old_after_retirement.status_code == 401
    assert old_after_retirement.json()["code"] == "unknown_key"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_a_standard_jwt_client_verifies_a_token_from_the_live_jwks(
    clean_db: None, make_settings: Any
) -> None:
    from backbeat.auth.app import create_app

    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    app = create_app(make_settings(issuer=issuer, port=port))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    try:
        # uvicorn offers no started event; poll briefly, bounded by the test timeout.
        while not server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=issuer) as http:
            access_token = (await user_tokens(http))["access_token"]

        def verify_with_pyjwt() -> dict[str, Any]:
            keys = jwt.PyJWKClient(f"{issuer}/.well-known/jwks.json")
            signing_key = keys.get_signing_key_from_jwt(access_token)
            claims: dict[str, Any] = jwt.decode(
                access_token,
                signing_key.key,
                algorithms=["EdDSA"],
                audience="backbeat",
                issuer=issuer,
            )
            return claims

        claims = await asyncio.to_thread(verify_with_pyjwt)
        ours = TokenVerifier(
            JwksCache(f"{issuer}/.well-known/jwks.json"),
            issuer=issuer,
            user_audience="backbeat",
            service_audience=None,
        )
        principal = await ours.verify(access_token)
    finally:
        server.should_exit = True
        await serving

    assert claims["typ"] == "user"
    assert {"iss", "sub", "aud", "exp", "iat", "nbf", "jti"} <= claims.keys()
    assert isinstance(principal, UserPrincipal)
    assert str(principal.user_id) == claims["sub"]
