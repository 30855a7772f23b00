"""Forged and hostile tokens for tests: every service runs the same negative matrix against its
own protected routes with these.

Not for production code paths: it signs whatever it is asked to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backbeat.authn.claims import ACCESS_TOKEN_HEADER_TYPE, TokenType, service_subject
from backbeat.authn.errors import RejectReason
from backbeat.authn.keys import StaticKeySource


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


class TokenForge:
    """Signs access tokens like auth does, with a key of its own or one handed to it."""

    def __init__(
        self,
        *,
        issuer: str,
        user_audience: str = "backbeat",
        service_audience: str = "auth",
        private_key: Ed25519PrivateKey | None = None,
        kid: str | None = None,
    ) -> None:
        self.issuer = issuer
        self.user_audience = user_audience
        self.service_audience = service_audience
        self.private_key = private_key or Ed25519PrivateKey.generate()
        self.kid = kid or uuid.uuid4().hex
        self.stranger_key = Ed25519PrivateKey.generate()

    def public_jwk(self) -> dict[str, Any]:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64(raw), "kid": self.kid, "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk()]}

    def key_source(self) -> StaticKeySource:
        return StaticKeySource.from_jwks(self.jwks())

    def user_claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": str(uuid.uuid4()),
            "sid": str(uuid.uuid4()),
            "aud": self.user_audience,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
            "typ": TokenType.USER.value,
        }
        claims.update(overrides)
        return claims

    def service_claims(
        self, client_id: str = "watcher", scopes: str = "", **overrides: Any
    ) -> dict[str, Any]:
        claims = self.user_claims(
            sub=service_subject(client_id),
            aud=self.service_audience,
            typ=TokenType.SERVICE.value,
            client_id=client_id,
            scope=scopes,
        )
        del claims["sid"]
        claims.update(overrides)
        return claims

    def sign(
        self,
        claims: dict[str, Any],
        *,
        key: Ed25519PrivateKey | None = None,
        kid: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> str:
        return jwt.encode(
            claims,
            key or self.private_key,
            algorithm="EdDSA",
            headers={"kid": kid or self.kid, "typ": ACCESS_TOKEN_HEADER_TYPE, **(headers or {})},
        )

    def user_token(self, **overrides: Any) -> str:
        return self.sign(self.user_claims(**overrides))

    def service_token(self, client_id: str = "watcher", scopes: str = "", **overrides: Any) -> str:
        return self.sign(self.service_claims(client_id, scopes, **overrides))

    def unsigned(self, claims: dict[str, Any]) -> str:
        header = {"alg": "none", "typ": ACCESS_TOKEN_HEADER_TYPE, "kid": self.kid}
        return f"{_segment(header)}.{_segment(claims)}."

    def hmac_with_public_key(self, claims: dict[str, Any]) -> str:
        """The classic key-confusion forgery: HS256 with the public key's PEM as the secret."""
        header = {"alg": "HS256", "typ": ACCESS_TOKEN_HEADER_TYPE, "kid": self.kid}
        signing_input = f"{_segment(header)}.{_segment(claims)}"
        pem = self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"


@dataclass(frozen=True, slots=True)
class NegativeCase:
    name: str
    token: str
    reason: RejectReason


def negative_matrix(forge: TokenForge, *, max_token_bytes: int = 4096) -> list[NegativeCase]:
    """Tokens that must each be refused, with the reason a verifier gives for user routes."""
    now = int(time.time())
    valid = forge.user_token()
    header, payload, signature = valid.split(".")
    claims = forge.user_claims()
    tampered_claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    tampered_claims["sub"] = str(uuid.uuid4())
    oversized_payload = _segment({**claims, "pad": "x" * max_token_bytes})
    return [
        NegativeCase("alg_none", forge.unsigned(claims), RejectReason.UNSUPPORTED_ALGORITHM),
        NegativeCase(
            "hs256_signed_with_public_key",
            forge.hmac_with_public_key(claims),
            RejectReason.UNSUPPORTED_ALGORITHM,
        ),
        NegativeCase(
            "unknown_kid", forge.sign(claims, kid="no-such-key"), RejectReason.UNKNOWN_KEY
        ),
        NegativeCase(
            "wrong_key", forge.sign(claims, key=forge.stranger_key), RejectReason.INVALID_SIGNATURE
        ),
        NegativeCase(
            "expired",
            forge.user_token(iat=now - 3600, nbf=now - 3600, exp=now - 1800),
            RejectReason.TOKEN_EXPIRED,
        ),
        NegativeCase(
            "nbf_in_the_future",
            forge.user_token(nbf=now + 600, exp=now + 1200),
            RejectReason.TOKEN_NOT_YET_VALID,
        ),
        NegativeCase(
            "wrong_audience", forge.user_token(aud="somebody-else"), RejectReason.INVALID_AUDIENCE
        ),
        NegativeCase(
            "wrong_issuer",
            forge.user_token(iss="https://evil.example"),
            RejectReason.INVALID_ISSUER,
        ),
        NegativeCase(
            "tampered_payload",
            f"{header}.{_segment(tampered_claims)}.{signature}",
            RejectReason.INVALID_SIGNATURE,
        ),
        NegativeCase(
            "not_an_access_token",
            forge.sign(claims, headers={"typ": "JWT"}),
            RejectReason.WRONG_TOKEN_TYPE,
        ),
        NegativeCase(
            "missing_jti",
            forge.sign({k: v for k, v in claims.items() if k != "jti"}),
            RejectReason.INVALID_CLAIMS,
        ),
        NegativeCase("empty", "", RejectReason.MALFORMED_TOKEN),
        NegativeCase("two_segments", "a.b", RejectReason.MALFORMED_TOKEN),
        NegativeCase("four_segments", "a.b.c.d", RejectReason.MALFORMED_TOKEN),
        NegativeCase(
            "oversized",
            f"{header}.{oversized_payload}.{signature}",
            RejectReason.TOKEN_TOO_LARGE,
        ),
    ]
