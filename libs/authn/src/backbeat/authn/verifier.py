"""Local verification of Backbeat access tokens: no call to auth per request.

The checks run cheapest first, so garbage costs almost nothing: size, shape, header
(algorithm pinned, explicit ``typ``, known ``kid``), then the signature, then the claims.
"""

from __future__ import annotations

import binascii
import re
import time
from base64 import urlsafe_b64decode
from collections import OrderedDict
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import jwt
import orjson
from jwt import PyJWK

from backbeat.authn.claims import (
    ACCESS_TOKEN_HEADER_TYPE,
    REQUIRED_CLAIMS,
    SERVICE_SUBJECT_PREFIX,
    SUPPORTED_ALGORITHMS,
    Principal,
    ServicePrincipal,
    TokenType,
    UserPrincipal,
)
from backbeat.authn.errors import RejectReason, RevocationsUnavailable, TokenRejected
from backbeat.authn.keys import KeySource
from backbeat.authn.revocations import RevocationList

# Our tokens are about 400 bytes; 4 KiB leaves room while refusing megabyte headers before
# any base64, JSON or signature work.
DEFAULT_MAX_TOKEN_BYTES = 4096
# Auth issues user tokens for at most 15 minutes and service tokens for at most an hour.
DEFAULT_MAX_LIFETIME_S = 900.0
DEFAULT_MAX_SERVICE_LIFETIME_S = 3600.0

_SEGMENT = re.compile(r"^[A-Za-z0-9_-]*$")


def _b64_json(segment: str) -> dict[str, Any]:
    padded = segment + "=" * (-len(segment) % 4)
    try:
        value = orjson.loads(urlsafe_b64decode(padded))
    except (binascii.Error, ValueError) as exc:
        raise TokenRejected(RejectReason.MALFORMED_TOKEN) from exc
    if not isinstance(value, dict):
        raise TokenRejected(RejectReason.MALFORMED_TOKEN)
    return value


class TokenVerifier:
    """Verifies access tokens for one service.

    ``user_audience`` is the audience of user tokens this service accepts (``None``: it
    accepts no user tokens); ``service_audience`` likewise for service tokens, normally the
    service's own name.

    A token living longer than ``max_lifetime_s`` (user) or ``max_service_lifetime_s``
    (service) from its ``iat`` to its ``exp`` is refused: however it was signed, it would
    outlive what a revocation is remembered for. With ``revocations``, a user token of a
    revoked session is refused, from the cache too; until that list is current every user
    token is answered with :class:`RevocationsUnavailable` (503), never accepted unchecked.
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        user_audience: str | None,
        service_audience: str | None,
        algorithms: Collection[str] = ("EdDSA",),
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        leeway_s: float = 5.0,
        verified_cache_size: int = 10_000,
        max_lifetime_s: float = DEFAULT_MAX_LIFETIME_S,
        max_service_lifetime_s: float = DEFAULT_MAX_SERVICE_LIFETIME_S,
        revocations: RevocationList | None = None,
    ) -> None:
        unsupported = set(algorithms) - SUPPORTED_ALGORITHMS
        if unsupported or not algorithms:
            raise ValueError(f"algorithms must be among {sorted(SUPPORTED_ALGORITHMS)}")
        if user_audience is None and service_audience is None:
            raise ValueError("a verifier accepts user tokens, service tokens or both")
        self.keys = keys
        self.issuer = issuer
        self.user_audience = user_audience
        self.service_audience = service_audience
        self.algorithms = frozenset(algorithms)
        self.max_token_bytes = max_token_bytes
        self.leeway_s = leeway_s
        self.max_lifetime_s = max_lifetime_s
        self.max_service_lifetime_s = max_service_lifetime_s
        self.revocations = revocations
        self._audiences = [a for a in (user_audience, service_audience) if a is not None]
        # Tokens already verified, until they expire: a caller presents the same token many
        # times, and the signature check dominates the cost of an authenticated request.
        # Only successes are kept, so every refusal is decided by the full check.
        self.verified_cache_size = verified_cache_size
        self._verified: OrderedDict[str, tuple[Principal, str]] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        """The principal the token speaks for; raises :class:`TokenRejected` otherwise."""
        cached = self._verified.get(token)
        if cached is not None:
            principal, kid = cached
            # Still unexpired, and signed by a key that is still published (not retired).
            if principal.expires_at.timestamp() > time.time() and await self.keys.get(kid):
                self._verified.move_to_end(token)
                self._check_revoked(principal)
                return principal
            self._verified.pop(token, None)
        header, _ = self._check_shape(token)
        key = await self._key_for(header)
        claims = self._decode(token, key, header["alg"])
        principal = self._principal(claims)
        self._check_revoked(principal)
        if self.verified_cache_size > 0:
            self._verified[token] = (principal, header["kid"])
            if len(self._verified) > self.verified_cache_size:
                self._verified.popitem(last=False)
        return principal

    def _check_shape(self, token: str) -> tuple[dict[str, Any], list[str]]:
        if len(token) > self.max_token_bytes:
            raise TokenRejected(RejectReason.TOKEN_TOO_LARGE)
        segments = token.split(".")
        if len(segments) != 3 or not segments[0] or not segments[1]:
            raise TokenRejected(RejectReason.MALFORMED_TOKEN)
        if not all(_SEGMENT.match(s) for s in segments):
            raise TokenRejected(RejectReason.MALFORMED_TOKEN)
        header = _b64_json(segments[0])
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise TokenRejected(RejectReason.UNSUPPORTED_ALGORITHM)
        if header.get("typ") != ACCESS_TOKEN_HEADER_TYPE:
            raise TokenRejected(RejectReason.WRONG_TOKEN_TYPE, "not an access token")
        if not segments[2]:
            raise TokenRejected(RejectReason.INVALID_SIGNATURE)
        return header, segments

    async def _key_for(self, header: dict[str, Any]) -> PyJWK:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected(RejectReason.UNKNOWN_KEY)
        key = await self.keys.get(kid)
        if key is None:
            raise TokenRejected(RejectReason.UNKNOWN_KEY)
        # The key pins its algorithm: a token may not pick another one for the same key.
        if key.algorithm_name != header["alg"]:
            raise TokenRejected(RejectReason.UNSUPPORTED_ALGORITHM)
        return key

    def _decode(self, token: str, key: PyJWK, alg: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self._audiences,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejected(RejectReason.TOKEN_EXPIRED) from exc
        except jwt.ImmatureSignatureError as exc:
            raise TokenRejected(RejectReason.TOKEN_NOT_YET_VALID) from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenRejected(RejectReason.INVALID_AUDIENCE) from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenRejected(RejectReason.INVALID_ISSUER) from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenRejected(RejectReason.INVALID_SIGNATURE) from exc
        except jwt.DecodeError as exc:
            raise TokenRejected(RejectReason.MALFORMED_TOKEN) from exc
        except jwt.InvalidTokenError as exc:
            # Missing required claims, a non-numeric iat, and the like.
            raise TokenRejected(RejectReason.INVALID_CLAIMS) from exc

    def _check_revoked(self, principal: Principal) -> None:
        if self.revocations is None or not isinstance(principal, UserPrincipal):
            return
        if not self.revocations.current:
            raise RevocationsUnavailable("revocations are not read yet")
        if self.revocations.is_revoked(principal.user_id, principal.session_id):
            raise TokenRejected(RejectReason.SESSION_REVOKED)

    def _check_lifetime(self, claims: dict[str, Any], max_lifetime_s: float) -> None:
        issued_at, expires = claims["iat"], claims["exp"]
        if not isinstance(issued_at, int | float) or not isinstance(expires, int | float):
            raise TokenRejected(RejectReason.INVALID_CLAIMS)
        if expires - issued_at > max_lifetime_s:
            raise TokenRejected(
                RejectReason.TOKEN_LIFETIME_TOO_LONG,
                f"tokens here live at most {int(max_lifetime_s)} s",
            )

    def _principal(self, claims: dict[str, Any]) -> Principal:
        typ = claims["typ"]
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        expires_at = datetime.fromtimestamp(claims["exp"], UTC)
        jti = claims["jti"]
        sub = claims["sub"]
        if not isinstance(jti, str) or not isinstance(sub, str):
            raise TokenRejected(RejectReason.INVALID_CLAIMS)
        if typ == TokenType.USER:
            if self.user_audience is None or self.user_audience not in audiences:
                raise TokenRejected(RejectReason.WRONG_TOKEN_TYPE, "user tokens are not accepted")
            self._check_lifetime(claims, self.max_lifetime_s)
            try:
                user_id, session_id = UUID(sub), UUID(str(claims.get("sid")))
            except ValueError as exc:
                raise TokenRejected(RejectReason.INVALID_CLAIMS) from exc
            return UserPrincipal(user_id, session_id, jti, expires_at)
        if typ == TokenType.SERVICE:
            if self.service_audience is None or self.service_audience not in audiences:
                raise TokenRejected(
                    RejectReason.WRONG_TOKEN_TYPE, "service tokens are not accepted"
                )
            client_id = claims.get("client_id")
            scope = claims.get("scope", "")
            if (
                not isinstance(client_id, str)
                or sub != f"{SERVICE_SUBJECT_PREFIX}{client_id}"
                or not isinstance(scope, str)
            ):
                raise TokenRejected(RejectReason.INVALID_CLAIMS)
            self._check_lifetime(claims, self.max_service_lifetime_s)
            return ServicePrincipal(
                client_id, self.service_audience, frozenset(scope.split()), jti, expires_at
            )
        raise TokenRejected(RejectReason.WRONG_TOKEN_TYPE)
