"""Why a token was refused, as a stable machine code every service answers the same way."""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    """Stable codes of a refused token; they appear as ``code`` in the 401 problem body."""

    # The S105 hints below flag the word "token" in code names: none of these is a secret.

    MISSING_TOKEN = "missing_token"  # noqa: S105
    TOKEN_TOO_LARGE = "token_too_large"  # noqa: S105
    MALFORMED_TOKEN = "malformed_token"  # noqa: S105
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    UNKNOWN_KEY = "unknown_key"
    INVALID_SIGNATURE = "invalid_signature"
    TOKEN_EXPIRED = "token_expired"  # noqa: S105
    TOKEN_NOT_YET_VALID = "token_not_yet_valid"  # noqa: S105
    INVALID_AUDIENCE = "invalid_audience"
    INVALID_ISSUER = "invalid_issuer"
    INVALID_CLAIMS = "invalid_claims"
    WRONG_TOKEN_TYPE = "wrong_token_type"  # noqa: S105
    TOKEN_LIFETIME_TOO_LONG = "token_lifetime_too_long"  # noqa: S105
    SESSION_REVOKED = "session_revoked"


_TITLES = {
    RejectReason.MISSING_TOKEN: "A bearer token is required",
    RejectReason.TOKEN_TOO_LARGE: "The token is too large",
    RejectReason.MALFORMED_TOKEN: "The token is not a well-formed JWT",
    RejectReason.UNSUPPORTED_ALGORITHM: "The token's algorithm is not accepted",
    RejectReason.UNKNOWN_KEY: "The token was signed by an unknown key",
    RejectReason.INVALID_SIGNATURE: "The token's signature does not verify",
    RejectReason.TOKEN_EXPIRED: "The token has expired",
    RejectReason.TOKEN_NOT_YET_VALID: "The token is not valid yet",
    RejectReason.INVALID_AUDIENCE: "The token is not meant for this service",
    RejectReason.INVALID_ISSUER: "The token was not issued by Backbeat auth",
    RejectReason.INVALID_CLAIMS: "The token's claims are incomplete or inconsistent",
    RejectReason.WRONG_TOKEN_TYPE: "This kind of token is not accepted here",
    RejectReason.TOKEN_LIFETIME_TOO_LONG: "The token's lifetime is longer than accepted",
    RejectReason.SESSION_REVOKED: "The session has ended",
}


class TokenRejected(Exception):
    """The token must not be trusted. The message never contains the token itself."""

    def __init__(self, reason: RejectReason, detail: str | None = None) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.title = _TITLES[reason]
        self.detail = detail


class KeySetUnavailable(Exception):
    """The key set could not be fetched and none is cached: a transient failure, not a bad
    token, so callers answer 503 rather than 401."""


class RevocationsUnavailable(KeySetUnavailable):
    """This instance has not read the revocations published before it started, so it cannot
    tell a revoked session from a live one: transient, answered with 503 like a missing key
    set."""
