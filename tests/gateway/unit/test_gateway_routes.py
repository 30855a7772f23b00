"""Which service a public path reaches, and which paths never reach any."""

from __future__ import annotations

import pytest

from backbeat.gateway.domain.routes import (
    PUBLIC_OPERATIONS,
    Forward,
    PublicOperation,
    Refusal,
    Refuse,
    Upstream,
    decide,
)


@pytest.mark.parametrize("operation", PUBLIC_OPERATIONS, ids=lambda op: f"{op.method} {op.path}")
def test_every_public_operation_reaches_its_service_with_the_table_s_token_rule(
    operation: PublicOperation,
) -> None:
    assert decide(operation.method, operation.path) == Forward(
        upstream=operation.upstream,
        needs_user=operation.needs_user,
        is_stream=operation.path == "/api/playback/stream",
        checks_password=operation.path in {"/api/auth/signup", "/api/auth/login"},
    )


def test_only_signup_login_refresh_and_the_spotify_callback_are_open() -> None:
    open_routes = {(op.method, op.path) for op in PUBLIC_OPERATIONS if not op.needs_user}
    assert open_routes == {
        ("POST", "/api/auth/signup"),
        ("POST", "/api/auth/login"),
        ("POST", "/api/auth/refresh"),
        ("GET", "/api/spotify/callback"),
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/auth/login"),  # open only as POST
        ("POST", "/api/spotify/callback"),
        ("POST", "/api/auth/password"),  # a service route beyond the table
        ("GET", "/api/playback/anything/else"),
    ],
)
def test_other_methods_and_paths_under_a_prefix_need_a_user_token(method: str, path: str) -> None:
    decision = decide(method, path)
    assert isinstance(decision, Forward) and decision.needs_user


def test_the_method_s_case_does_not_open_a_route() -> None:
    assert decide("post", "/api/auth/login") == Forward(Upstream.AUTH, False, False, True)


@pytest.mark.parametrize(
    ("method", "path", "checks_password"),
    [
        ("POST", "/api/auth/signup", True),
        ("POST", "/api/auth/login", True),
        ("POST", "/api/auth/password", True),
        ("POST", "/api/auth/refresh", False),
        ("GET", "/api/auth/me", False),
        ("DELETE", "/api/auth/me", False),
        ("GET", "/api/auth/login", False),
    ],
)
def test_routes_that_make_auth_hash_a_password_are_marked(
    method: str, path: str, checks_password: bool
) -> None:
    decision = decide(method, path)
    assert isinstance(decision, Forward) and decision.checks_password is checks_password


@pytest.mark.parametrize(
    "path",
    [
        "/internal/v1/users/u1/spotify/access-token",
        "/internal/v1/users/u1",
        "/oauth/token",
        "/.well-known/jwks.json",
        "/api/internal/v1/users/u1",
        "/api/authx/me",
        "/api/auth",
        "/api/auth/",
        "/api/tokens/connection",
        "/health/ready",
    ],
)
def test_internal_and_unknown_paths_are_not_routed(path: str) -> None:
    assert decide("GET", path) == Refuse(Refusal.NOT_ROUTED)


@pytest.mark.parametrize(
    "path",
    [
        "/api/spotify/../../internal/v1/users/u1/spotify/access-token",
        "/api/spotify/%2e%2e/%2E%2E/internal/v1/users/u1",
        "/api/auth/%2Fme",
        "/api/auth/..%5cinternal",
        "/api/playback//now",
        "/api/auth/./me",
        "/api/auth/me\\..",
    ],
)
def test_paths_a_service_could_read_as_another_path_are_refused(path: str) -> None:
    assert decide("GET", path) == Refuse(Refusal.AMBIGUOUS_PATH)
