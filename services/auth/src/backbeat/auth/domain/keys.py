"""Signing keys and their rotation schedule.

The newest key whose activation time has passed signs. A key published ahead of its
activation lets verifiers learn it before tokens signed with it appear. A key that a newer
one replaced keeps verifying until every token it could have signed has expired (the longest
token lifetime plus a grace for clock skew); then it leaves the key set and may be deleted.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ALGORITHM = "EdDSA"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey
    created_at: datetime
    activates_at: datetime

    def __repr__(self) -> str:
        # Never show the private key, even in a debugger or a traceback.
        return f"SigningKey(kid={self.kid!r}, activates_at={self.activates_at.isoformat()})"

    def public_jwk(self) -> dict[str, Any]:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(raw),
            "kid": self.kid,
            "use": "sig",
            "alg": ALGORITHM,
        }

    def private_bytes(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )


def thumbprint(public_x: str) -> str:
    """RFC 7638 JWK thumbprint: a kid derived from the key itself, so it cannot collide."""
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": public_x}, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def generate_signing_key(now: datetime, activates_at: datetime | None = None) -> SigningKey:
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return SigningKey(thumbprint(_b64url(raw)), private, now, activates_at or now)


@dataclass(frozen=True, slots=True)
class KeySchedule:
    """How long replaced keys keep verifying and when a new key is due."""

    longest_token_ttl: timedelta
    retirement_grace: timedelta
    rotation_interval: timedelta | None

    @property
    def overlap(self) -> timedelta:
        return self.longest_token_ttl + self.retirement_grace


def _by_activation(keys: Sequence[SigningKey]) -> list[SigningKey]:
    return sorted(keys, key=lambda k: (k.activates_at, k.created_at))


def signing_key(keys: Sequence[SigningKey], now: datetime) -> SigningKey | None:
    """The key that signs now: the most recently activated one."""
    active = [k for k in _by_activation(keys) if k.activates_at <= now]
    return active[-1] if active else None


def replaced_at(keys: Sequence[SigningKey], key: SigningKey) -> datetime | None:
    """When the next key took over from ``key`` (None while ``key`` is the newest)."""
    ordered = _by_activation(keys)
    index = ordered.index(key)
    return ordered[index + 1].activates_at if index + 1 < len(ordered) else None


def published_keys(
    keys: Sequence[SigningKey], now: datetime, schedule: KeySchedule
) -> list[SigningKey]:
    """The keys in the JWKS: pending, current, and replaced ones still inside the overlap."""
    current = signing_key(keys, now)
    published = []
    for key in _by_activation(keys):
        if key is current or key.activates_at > now:
            published.append(key)
            continue
        until = replaced_at(keys, key)
        if until is not None and until <= now and now < until + schedule.overlap:
            published.append(key)
    return published


def retired_keys(
    keys: Sequence[SigningKey], now: datetime, schedule: KeySchedule
) -> list[SigningKey]:
    """Keys no token still in its lifetime can have been signed with: safe to delete."""
    keep = {k.kid for k in published_keys(keys, now, schedule)}
    return [k for k in keys if k.kid not in keep]


def rotation_due(keys: Sequence[SigningKey], now: datetime, schedule: KeySchedule) -> bool:
    """True when there is no key, or the newest one has signed for the rotation interval."""
    if not keys:
        return True
    newest = _by_activation(keys)[-1]
    if newest.activates_at > now:
        return False  # a rotation is already scheduled
    if schedule.rotation_interval is None:
        return False
    return now - newest.activates_at >= schedule.rotation_interval
