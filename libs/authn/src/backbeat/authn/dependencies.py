"""FastAPI dependencies that turn the ``Authorization: Bearer`` header into a principal.

Install the verifier once (``install_verifier(app, verifier)``), then declare
``user: UserPrincipal = Depends(current_user)`` or
``caller: ServicePrincipal = Depends(require_service("tokens:read"))`` on a route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from backbeat.authn.claims import Principal, ServicePrincipal, UserPrincipal
from backbeat.authn.errors import (
    KeySetUnavailable,
    RejectReason,
    RevocationsUnavailable,
    TokenRejected,
)
from backbeat.authn.verifier import TokenVerifier
from backbeat.runtime.problems import ProblemError, problem_responses

# Every protected route documents these in its OpenAPI: 401 refused token, 403 missing
# scope, 503 key set unavailable.
AUTH_PROBLEMS: dict[int | str, dict[str, Any]] = problem_responses(401, 403, 503)

_bearer = HTTPBearer(auto_error=False, scheme_name="BackbeatAccessToken")


def install_verifier(app: FastAPI, verifier: TokenVerifier) -> None:
    """Make ``verifier`` the one the dependencies of this app use."""
    app.state.token_verifier = verifier


def _unauthorized(reason: RejectReason, title: str, detail: str | None = None) -> ProblemError:
    error = "invalid_request" if reason is RejectReason.MISSING_TOKEN else "invalid_token"
    return ProblemError(
        401,
        reason.value,
        title,
        detail,
        headers={"WWW-Authenticate": f'Bearer error="{error}"'},
    )


async def principal_of(request: Request, token: str | None) -> Principal:
    """Whoever ``token`` (the bearer credentials, None when absent) speaks for; the problem
    details every refusal answers with. For routes that do not use FastAPI's dependencies."""
    if not token:
        raise _unauthorized(RejectReason.MISSING_TOKEN, "A bearer token is required")
    verifier: TokenVerifier | None = getattr(request.app.state, "token_verifier", None)
    if verifier is None:
        raise RuntimeError("install_verifier(app, verifier) was not called for this app")
    try:
        return await verifier.verify(token)
    except TokenRejected as exc:
        raise _unauthorized(exc.reason, exc.title, exc.detail) from None
    except RevocationsUnavailable:
        raise ProblemError(
            503,
            "revocations_unavailable",
            "Tokens cannot be checked right now",
            headers={"Retry-After": "5"},
        ) from None
    except KeySetUnavailable:
        raise ProblemError(
            503,
            "auth_keys_unavailable",
            "Tokens cannot be checked right now",
            headers={"Retry-After": "5"},
        ) from None


def bearer_token(request: Request) -> str | None:
    """The credentials of an ``Authorization: Bearer`` header, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def service_with(principal: Principal, scope: str) -> ServicePrincipal:
    """``principal`` as a service holding ``scope``, or the 401/403 refusal."""
    if not isinstance(principal, ServicePrincipal):
        raise _unauthorized(RejectReason.WRONG_TOKEN_TYPE, "A service token is required")
    if not principal.has_scope(scope):
        raise ProblemError(
            403,
            "insufficient_scope",
            "The service token lacks a required scope",
            f"required scope: {scope}",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
        )
    return principal


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Whoever the request's bearer token speaks for, user or service."""
    return await principal_of(request, credentials.credentials if credentials else None)


async def current_user(
    principal: Annotated[Principal, Depends(current_principal)],
) -> UserPrincipal:
    """The signed-in user; a service token is refused with 401 ``wrong_token_type``."""
    if not isinstance(principal, UserPrincipal):
        raise _unauthorized(RejectReason.WRONG_TOKEN_TYPE, "A user token is required")
    return principal


def require_service(scope: str) -> Callable[..., Awaitable[ServicePrincipal]]:
    """A dependency admitting only service tokens that carry ``scope``.

    A user token is refused with 401 ``wrong_token_type``; a service token without the
    scope with 403 ``insufficient_scope``.
    """

    async def service_with_scope(
        principal: Annotated[Principal, Depends(current_principal)],
    ) -> ServicePrincipal:
        return service_with(principal, scope)

    return service_with_scope
