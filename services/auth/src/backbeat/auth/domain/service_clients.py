"""Which service token a client may have: audience allowlist and scopes per client.

A scope names its audience before the colon (``tokens:read`` is for ``tokens``), so a token
for one service never carries rights at another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

CLIENT_ID_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
AUDIENCE_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
SCOPE_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,62}:[a-z0-9_.*-]{1,64}$")


@dataclass(frozen=True, slots=True)
class ServiceClient:
    client_id: str
    audiences: frozenset[str]
    scopes: frozenset[str]
    disabled: bool = False


class GrantRefusal(StrEnum):
    """RFC 6749 section 5.2 error codes (and RFC 8707's ``invalid_target`` for audiences)."""

    INVALID_REQUEST = "invalid_request"
    INVALID_CLIENT = "invalid_client"
    UNAUTHORIZED_CLIENT = "unauthorized_client"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    INVALID_SCOPE = "invalid_scope"
    INVALID_TARGET = "invalid_target"


@dataclass(frozen=True, slots=True)
class ServiceGrant:
    client_id: str
    audience: str
    scopes: frozenset[str]


def scope_audience(scope: str) -> str:
    return scope.split(":", 1)[0]


def decide_grant(
    client: ServiceClient, audience: str | None, scope: str | None
) -> ServiceGrant | GrantRefusal:
    """The grant for a request already authenticated as ``client``, or why it is refused."""
    if client.disabled:
        return GrantRefusal.UNAUTHORIZED_CLIENT
    if audience is None:
        if len(client.audiences) != 1:
            return GrantRefusal.INVALID_REQUEST
        (audience,) = client.audiences
    if audience not in client.audiences:
        return GrantRefusal.INVALID_TARGET
    allowed = frozenset(s for s in client.scopes if scope_audience(s) == audience)
    if scope is None:
        return ServiceGrant(client.client_id, audience, allowed)
    requested = frozenset(scope.split())
    if not requested <= allowed:
        return GrantRefusal.INVALID_SCOPE
    return ServiceGrant(client.client_id, audience, requested)


def validate_registration(client_id: str, audiences: set[str], scopes: set[str]) -> list[str]:
    """What is wrong with a client about to be registered (empty when nothing)."""
    problems = []
    if not CLIENT_ID_PATTERN.match(client_id):
        problems.append(f"client id {client_id!r} must match {CLIENT_ID_PATTERN.pattern}")
    if not audiences:
        problems.append("at least one audience is required")
    problems += [f"audience {a!r} is not valid" for a in audiences if not AUDIENCE_PATTERN.match(a)]
    for scope in scopes:
        if not SCOPE_PATTERN.match(scope):
            problems.append(f"scope {scope!r} must look like '<audience>:<right>'")
        elif scope_audience(scope) not in audiences:
            problems.append(f"scope {scope!r} names an audience the client may not ask for")
    return problems
