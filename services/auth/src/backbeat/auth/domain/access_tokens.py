"""The claims of the access tokens auth issues, and their signature.

The shapes are those ``backbeat.authn`` verifies: header ``typ: at+jwt`` and ``kid``; claims
``iss sub aud exp iat nbf jti typ``, plus ``sid`` for users and ``client_id``/``scope`` for
services.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import jwt

from backbeat.auth.domain.keys import ALGORITHM, SigningKey
from backbeat.authn.claims import ACCESS_TOKEN_HEADER_TYPE, TokenType, service_subject


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int
    token_id: str


def _base_claims(
    issuer: str, subject: str, audience: str, now: datetime, ttl: timedelta, typ: TokenType
) -> dict[str, Any]:
    issued = int(now.timestamp())
    return {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(ttl.total_seconds()),
        "jti": str(uuid.uuid4()),
        "typ": typ.value,
    }


def user_access_claims(
    *, issuer: str, audience: str, user_id: UUID, session_id: UUID, now: datetime, ttl: timedelta
) -> dict[str, Any]:
    claims = _base_claims(issuer, str(user_id), audience, now, ttl, TokenType.USER)
    claims["sid"] = str(session_id)
    return claims


def service_access_claims(
    *,
    issuer: str,
    audience: str,
    client_id: str,
    scopes: Iterable[str],
    now: datetime,
    ttl: timedelta,
) -> dict[str, Any]:
    claims = _base_claims(issuer, service_subject(client_id), audience, now, ttl, TokenType.SERVICE)
    claims["client_id"] = client_id
    claims["scope"] = " ".join(sorted(scopes))
    return claims


def sign(claims: dict[str, Any], key: SigningKey) -> IssuedToken:
    token = jwt.encode(
        claims,
        key.private_key,
        algorithm=ALGORITHM,
        headers={"kid": key.kid, "typ": ACCESS_TOKEN_HEADER_TYPE},
    )
    return IssuedToken(token, claims["exp"] - claims["iat"], claims["jti"])
