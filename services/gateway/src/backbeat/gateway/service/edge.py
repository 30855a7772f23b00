"""What happens to a public request at the edge, in order: route, address limit, user token,
user limit, body size; then it is forwarded.

Cheapest refusals first: an unknown path or a flooding address costs no signature check, and
no body is read for a caller without a valid token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter

from backbeat.authn import (
    KeySetUnavailable,
    RejectReason,
    TokenRejected,
    TokenVerifier,
    UserPrincipal,
)
from backbeat.authn.client_address import attest_client_address
from backbeat.gateway.adapters.forward import Forwarder, RelayedResponse
from backbeat.gateway.adapters.headers import upstream_request_headers
from backbeat.gateway.domain.rate_limit import GcraLimiter, Verdict
from backbeat.gateway.domain.routes import Refuse, decide
from backbeat.runtime.problems import ProblemError


@dataclass
class EdgePolicy:
    verifier: TokenVerifier
    address_limiter: GcraLimiter
    user_limiter: GcraLimiter
    # Per client address, for the routes that make auth hash a password (sign-up, sign-in,
    # password change): a budget far below the address limit, so no one client can keep
    # auth's cores busy with argon2 and slow everyone else's sign-in.
    password_limiter: GcraLimiter
    max_body_bytes: int
    # Signs the caller's address for the services (backbeat.authn.client_address).
    client_address_secret: bytes
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time


class Edge:
    """Admits, refuses or forwards each request to ``/api/*``."""

    def __init__(self, policy: EdgePolicy, forwarder: Forwarder, registry: CollectorRegistry):
        self.policy = policy
        self.forwarder = forwarder
        self.refusals = Counter(
            "gateway_refusals",
            "Requests the gateway answered itself, by reason",
            ["reason"],
            registry=registry,
        )
        self.forwarded = Counter(
            "gateway_forwarded",
            "Requests forwarded to a service, by service and response status",
            ["upstream", "status"],
            registry=registry,
        )

    async def handle(self, request: Request) -> RelayedResponse:
        raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        decision = decide(request.method, raw_path)
        if isinstance(decision, Refuse):
            self.refusals.labels(decision.reason.value).inc()
            raise ProblemError(404, "not_found", "There is no public route here")
        address = request.client.host if request.client else "unknown"
        self._admit(self.policy.address_limiter.check(address, self.policy.clock()), "address")
        if decision.checks_password:
            verdict = self.policy.password_limiter.check(address, self.policy.clock())
            self._admit(verdict, "password")
        if len(request.headers.getlist("authorization")) > 1:
            # The gateway and the service behind it could each read a different one.
            self.refusals.labels("ambiguous_credentials").inc()
            raise ProblemError(
                400, "ambiguous_credentials", "Send at most one Authorization header"
            )
        if decision.needs_user:
            user = await self._user(request)
            verdict = self.policy.user_limiter.check(str(user.user_id), self.policy.clock())
            self._admit(verdict, "user")
        body = await self._body(request)
        query = request.scope.get("query_string", b"").decode("latin-1")
        headers = upstream_request_headers(
            request.headers.items(),
            request_id=request.state.request_id,
            client_address=address,
            scheme=request.url.scheme,
            client_attestation=attest_client_address(
                self.policy.client_address_secret,
                address,
                request.state.request_id,
                int(self.policy.wall_clock()),
            ),
        )
        try:
            response = await self.forwarder.forward(
                decision.upstream,
                method=request.method,
                target=f"{raw_path}?{query}" if query else raw_path,
                headers=headers,
                body=body,
                is_stream=decision.is_stream,
            )
        except ProblemError as failure:
            self.forwarded.labels(decision.upstream.value, str(failure.status)).inc()
            raise
        self.forwarded.labels(decision.upstream.value, str(response.status_code)).inc()
        return response

    def _admit(self, verdict: Verdict, who: str) -> None:
        if verdict.allowed:
            return
        self.refusals.labels(f"rate_limited_{who}").inc()
        raise ProblemError(
            429,
            "rate_limited",
            "Too many requests",
            f"The {who} request rate limit is exceeded; retry after "
            f"{verdict.retry_after_header} s.",
            headers={"Retry-After": verdict.retry_after_header},
        )

    async def _user(self, request: Request) -> UserPrincipal:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise self._unauthorized(RejectReason.MISSING_TOKEN, "A bearer token is required")
        try:
            principal = await self.policy.verifier.verify(token)
        except TokenRejected as rejected:
            raise self._unauthorized(rejected.reason, rejected.title, rejected.detail) from None
        except KeySetUnavailable:
            self.refusals.labels("keys_unavailable").inc()
            raise ProblemError(
                503,
                "auth_keys_unavailable",
                "Tokens cannot be checked right now",
                headers={"Retry-After": "5"},
            ) from None
        if not isinstance(principal, UserPrincipal):
            raise self._unauthorized(RejectReason.WRONG_TOKEN_TYPE, "A user token is required")
        return principal

    def _unauthorized(
        self, reason: RejectReason, title: str, detail: str | None = None
    ) -> ProblemError:
        # The same answer every service gives (backbeat.authn), so clients see one behaviour.
        self.refusals.labels("unauthorized").inc()
        error = "invalid_request" if reason is RejectReason.MISSING_TOKEN else "invalid_token"
        challenge = {"WWW-Authenticate": f'Bearer error="{error}"'}
        return ProblemError(401, reason.value, title, detail, headers=challenge)

    async def _body(self, request: Request) -> bytes:
        limit = self.policy.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise self._too_large(limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise self._too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, limit: int) -> ProblemError:
        self.refusals.labels("body_too_large").inc()
        return ProblemError(
            413,
            "payload_too_large",
            "The request body is too large",
            f"Request bodies are limited to {limit} bytes.",
        )
