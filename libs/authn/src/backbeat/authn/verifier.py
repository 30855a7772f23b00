"""Local verification of Backbeat access tokens: no call to auth per request.

The checks run cheapest first, so garbage costs almost nothing: size, shape, header
(algorithm pinned, explicit ``typ``, known ``kid``), then the signature, then the claims.
The JWS and claim checks are PyJWT's (RFC 7515, RFC 7519), done here over the header this
module has already parsed: ``jwt.decode`` would parse and validate everything again, at
about half the cost of the signature itself.
"""

from __future__ import annotations

import binascii
import re
import time
from base64 import urlsafe_b64encode
from collections import OrderedDict
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from jwt import PyJWK
from jwt.algorithms import Algorithm

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
# Distinct genuine headers remembered: a few keys in rotation, with room to spare.
_GENUINE_HEADERS_KEPT = 32

# Three base64url segments without padding; the first two (header, payload) not empty.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


# base64url to base64, for binascii directly: the base64 module's wrappers convert and check
# their input again, a measurable share of a verification.
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def _b64decode(segment: str) -> bytes:
    """A segment that matched ``_COMPACT_JWS`` decoded; ``binascii.Error`` if its length is
    impossible."""
    padded = segment.encode("ascii").translate(_URLSAFE_TO_STANDARD) + b"=" * (-len(segment) % 4)
    return binascii.a2b_base64(padded)


def _b64_json(segment: str) -> dict[str, Any]:
    try:
        value = orjson.loads(_b64decode(segment))
    except (binascii.Error, ValueError) as exc:
        raise TokenRejected(RejectReason.MALFORMED_TOKEN) from exc
    if not isinstance(value, dict):
        raise TokenRejected(RejectReason.MALFORMED_TOKEN)
    return value


def _signature_bytes(segment: str) -> bytes:
    """The signature segment decoded; only its one canonical spelling is accepted, so a
    token cannot be re-spelled (unused low bits flipped) into another accepted string."""
    try:
        raw = _b64decode(segment)
    except binascii.Error as exc:
        raise TokenRejected(RejectReason.MALFORMED_TOKEN) from exc
    if urlsafe_b64encode(raw).rstrip(b"=") != segment.encode("ascii"):
        raise TokenRejected(RejectReason.MALFORMED_TOKEN)
    return raw


def _numeric_date(value: Any, reason: RejectReason) -> int:
    """A NumericDate claim as PyJWT reads it (whole seconds); ``reason`` if it is none."""
    if type(value) is int:
        return value
    # JSON numbers only: not the strings int() would take, nor booleans (an int subtype).
    if type(value) is not float:
        raise TokenRejected(reason)
    try:
        return int(value)
    except (OverflowError, ValueError) as exc:
        raise TokenRejected(reason) from exc


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
        # Each key as its algorithm prepared it, by the key set's own object: a key set that
        # is fetched again brings new objects, and these entries are replaced with them.
        self._prepared: dict[str, tuple[PyJWK, Algorithm, Any]] = {}
        # Headers of tokens that verified, already checked: auth signs every token with one
        # of a few identical headers (one per key), so their segments repeat. Only genuine
        # tokens add to it, so hostile input cannot grow it.
        self._genuine_headers: dict[str, dict[str, Any]] = {}

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
        header, segments = self._check_shape(token)
        key = await self._key_for(header)
        claims, audiences = self._verified_claims(segments, header["kid"], key)
        principal = self._principal(claims, audiences)
        if len(self._genuine_headers) < _GENUINE_HEADERS_KEPT:
            self._genuine_headers[segments[0]] = header
        self._check_revoked(principal)
        if self.verified_cache_size > 0:
            self._verified[token] = (principal, header["kid"])
            if len(self._verified) > self.verified_cache_size:
                self._verified.popitem(last=False)
        return principal

    def _check_shape(self, token: str) -> tuple[dict[str, Any], list[str]]:
        if len(token) > self.max_token_bytes:
            raise TokenRejected(RejectReason.TOKEN_TOO_LARGE)
        if not _COMPACT_JWS.fullmatch(token):
            raise TokenRejected(RejectReason.MALFORMED_TOKEN)
        segments = token.split(".")
        header = self._genuine_headers.get(segments[0]) or self._checked_header(segments[0])
        if not segments[2]:
            raise TokenRejected(RejectReason.INVALID_SIGNATURE)
        return header, segments

    def _checked_header(self, segment: str) -> dict[str, Any]:
        header = _b64_json(segment)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise TokenRejected(RejectReason.UNSUPPORTED_ALGORITHM)
        if header.get("typ") != ACCESS_TOKEN_HEADER_TYPE:
            raise TokenRejected(RejectReason.WRONG_TOKEN_TYPE, "not an access token")
        # No JWS extension is understood here: a critical one must be refused (RFC 7515
        # 4.1.11), and an unencoded payload (RFC 7797) is not what auth signs.
        if "crit" in header or header.get("b64", True) is not True:
            raise TokenRejected(RejectReason.MALFORMED_TOKEN)
        return header

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

    def _prepared_key(self, kid: str, key: PyJWK) -> tuple[Algorithm, Any]:
        prepared = self._prepared.get(kid)
        if prepared is None or prepared[0] is not key:
            algorithm = key.Algorithm
            prepared = (key, algorithm, algorithm.prepare_key(key.key))
            self._prepared[kid] = prepared
        return prepared[1], prepared[2]

    def _verified_claims(
        self, segments: list[str], kid: str, key: PyJWK
    ) -> tuple[dict[str, Any], list[str]]:
        """The payload and its audiences, once the signature over the first two segments
        verifies with ``key`` (whose algorithm the header was checked against) and the claims
        pass the checks ``jwt.decode`` makes: required claims, iat, nbf, exp, issuer and
        audience (``sub`` and ``jti`` being strings is checked with the principal)."""
        signature = _signature_bytes(segments[2])
        algorithm, prepared = self._prepared_key(kid, key)
        signing_input = f"{segments[0]}.{segments[1]}".encode("ascii")
        if not algorithm.verify(signing_input, prepared, signature):
            raise TokenRejected(RejectReason.INVALID_SIGNATURE)
        # Nothing of the payload is read before its signature is known to be good.
        claims = _b64_json(segments[1])
        if None in map(claims.get, REQUIRED_CLAIMS):
            missing = next(name for name in REQUIRED_CLAIMS if claims.get(name) is None)
            raise TokenRejected(RejectReason.INVALID_CLAIMS, f"the {missing} claim is missing")
        now, leeway = time.time(), self.leeway_s
        if _numeric_date(claims["iat"], RejectReason.INVALID_CLAIMS) > now + leeway:
            raise TokenRejected(RejectReason.TOKEN_NOT_YET_VALID)
        if _numeric_date(claims["nbf"], RejectReason.MALFORMED_TOKEN) > now + leeway:
            raise TokenRejected(RejectReason.TOKEN_NOT_YET_VALID)
        if _numeric_date(claims["exp"], RejectReason.MALFORMED_TOKEN) <= now - leeway:
            raise TokenRejected(RejectReason.TOKEN_EXPIRED)
        if claims["iss"] != self.issuer:
            raise TokenRejected(RejectReason.INVALID_ISSUER)
        audience = claims["aud"]
        if not audience:
            raise TokenRejected(RejectReason.INVALID_CLAIMS, "the aud claim is missing")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise TokenRejected(RejectReason.INVALID_AUDIENCE)
        if not any(a in audiences for a in self._audiences):
            raise TokenRejected(RejectReason.INVALID_AUDIENCE)
        return claims, audiences

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

    def _principal(self, claims: dict[str, Any], audiences: list[str]) -> Principal:
        typ = claims["typ"]
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
