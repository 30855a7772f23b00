"""Opaque secrets (refresh tokens, client secrets): made with 256 bits of randomness and
stored only as digests.

A plain SHA-256 is the right digest here: the secrets are random, so there is nothing for a
slow hash to protect against, and the lookup by digest stays an index hit.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

# Prefixes, not secrets (hence the S105 hints).
REFRESH_TOKEN_PREFIX = "bbr_"  # noqa: S105
CLIENT_SECRET_PREFIX = "bbs_"  # noqa: S105


def new_opaque_token(prefix: str) -> str:
    # The prefix lets secret scanners recognise a leaked Backbeat secret.
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def matches(secret: str, stored_digest: bytes) -> bool:
    return hmac.compare_digest(digest(secret), stored_digest)
