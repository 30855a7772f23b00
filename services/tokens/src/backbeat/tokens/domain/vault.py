"""Authenticated encryption of Spotify credentials, bound to the row they belong to.

Each secret is sealed with AES-256-GCM under the key ring's active key. The associated data
names the user and the field, so a ciphertext copied to another user's row, or from the
refresh-token column to the access-token column, fails to open instead of decrypting. Every
sealed value records its key id, which lets a rotation re-encrypt rows online while old keys
stay readable until it finishes.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12  # GCM's standard nonce; random per seal, never reused under one key
KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class CredentialField(StrEnum):
    ACCESS_TOKEN = "access_token"  # noqa: S105 - a column name
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a column name
    CODE_VERIFIER = "code_verifier"


class VaultError(Exception):
    """A sealed value cannot be opened: unknown key id, wrong row, or tampered bytes."""


class KeyRingError(ValueError):
    """The key ring configuration is unusable; the message never contains key material."""


@dataclass(frozen=True)
class SealedSecret:
    key_id: str
    blob: bytes  # nonce || ciphertext || tag


@dataclass(frozen=True)
class KeyRing:
    """Encryption keys by id; ``active`` seals, every key in ``keys`` opens."""

    keys: dict[str, bytes]
    active: str

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise KeyRingError(f"active key id {self.active!r} is not in the key ring")
        for key_id, key in self.keys.items():
            if not _KEY_ID.match(key_id):
                raise KeyRingError(f"key id {key_id!r} must be 1-32 letters, digits, - or _")
            if len(key) != KEY_BYTES:
                raise KeyRingError(f"key {key_id!r} must be {KEY_BYTES} bytes (AES-256)")

    def __repr__(self) -> str:
        return f"KeyRing(active={self.active!r}, key_ids={sorted(self.keys)!r})"

    @classmethod
    def parse(cls, spec: str, active: str | None = None) -> KeyRing:
        """Read ``"k1:<base64 key>,k2:<base64 key>"``; the active key defaults to the last."""
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            key_id, sep, encoded = part.partition(":")
            if not sep:
                raise KeyRingError("each key must be written as <key id>:<base64 key>")
            try:
                keys[key_id] = base64.b64decode(encoded, validate=True)
            except ValueError as exc:
                raise KeyRingError(f"key {key_id!r} is not valid base64") from exc
            order.append(key_id)
        if not keys:
            raise KeyRingError("the key ring is empty")
        return cls(keys=keys, active=active or order[-1])

    @staticmethod
    def generate_key() -> str:
        """A new random key, base64-encoded for the configuration."""
        return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def _associated_data(user_id: str, field: CredentialField) -> bytes:
    return f"backbeat.tokens.v1|{user_id}|{field.value}".encode()


def seal(ring: KeyRing, user_id: str, field: CredentialField, plaintext: str) -> SealedSecret:
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(ring.keys[ring.active]).encrypt(
        nonce, plaintext.encode(), _associated_data(user_id, field)
    )
    return SealedSecret(key_id=ring.active, blob=nonce + ciphertext)


def open_sealed(ring: KeyRing, user_id: str, field: CredentialField, sealed: SealedSecret) -> str:
    key = ring.keys.get(sealed.key_id)
    if key is None:
        raise VaultError(f"no key {sealed.key_id!r} in the key ring")
    nonce, ciphertext = sealed.blob[:NONCE_BYTES], sealed.blob[NONCE_BYTES:]
    try:
        plaintext = AESGCM(key).decrypt(nonce, ciphertext, _associated_data(user_id, field))
    except InvalidTag as exc:
        raise VaultError("sealed value does not belong to this row or was altered") from exc
    return plaintext.decode()


def reseal(
    ring: KeyRing, user_id: str, field: CredentialField, sealed: SealedSecret
) -> SealedSecret:
    """The same secret under the active key (a rotation step); unchanged if already there."""
    if sealed.key_id == ring.active:
        return sealed
    return seal(ring, user_id, field, open_sealed(ring, user_id, field, sealed))
