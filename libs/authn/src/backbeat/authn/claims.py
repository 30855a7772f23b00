"""The shape of Backbeat access tokens, shared by the issuer (auth) and every verifier.

Every access token carries the header ``typ: at+jwt`` (RFC 9068 explicit typing) and a
``typ`` claim saying whose token it is. User tokens have a UUID subject; service tokens have
``svc:<client id>``, so the two namespaces can never collide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

ACCESS_TOKEN_HEADER_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret
SERVICE_SUBJECT_PREFIX = "svc:"

# Asymmetric algorithms only: a verifier holds public keys, and accepting an HMAC algorithm
# would let anyone who has the public key "sign" with it.
SUPPORTED_ALGORITHMS = frozenset({"EdDSA", "ES256"})

REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "nbf", "jti", "typ")


class TokenType(StrEnum):
    """The ``typ`` claim: who the token speaks for."""

    USER = "user"
    SERVICE = "service"


def service_subject(client_id: str) -> str:
    return f"{SERVICE_SUBJECT_PREFIX}{client_id}"


@dataclass(frozen=True, slots=True)
class UserPrincipal:
    """A signed-in person, from a verified user access token."""

    user_id: UUID
    session_id: UUID
    token_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ServicePrincipal:
    """An internal service, from a verified service token (client-credentials grant)."""

    client_id: str
    audience: str
    scopes: frozenset[str]
    token_id: str
    expires_at: datetime

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


Principal = UserPrincipal | ServicePrincipal
