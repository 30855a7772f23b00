"""Signing keys at rest: AES-256-GCM under a key-encryption key derived from a setting.

The kid is bound in as associated data, so a sealed key copied onto another row does not
open. A wrong key-encryption secret fails loudly instead of producing a wrong key.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12
_FORMAT_VERSION = b"\x01"


class KeyUnsealError(Exception):
    """A stored signing key could not be decrypted (wrong secret, or the row was altered)."""


class KeySealer:
    def __init__(self, key_encryption_secret: str) -> None:
        if len(key_encryption_secret) < 16:
            raise ValueError("the key-encryption secret must be at least 16 characters")
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=b"backbeat-auth",
            info=b"signing-key-encryption v1",
        ).derive(key_encryption_secret.encode())
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "KeySealer(<secret>)"

    def seal(self, kid: str, private_key: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _FORMAT_VERSION + nonce + self._aead.encrypt(nonce, private_key, kid.encode())

    def unseal(self, kid: str, sealed: bytes) -> bytes:
        if sealed[:1] != _FORMAT_VERSION:
            raise KeyUnsealError(f"key {kid}: unknown sealing format")
        nonce, ciphertext = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, ciphertext, kid.encode())
        except InvalidTag as exc:
            raise KeyUnsealError(
                f"key {kid} does not open with the configured key-encryption secret"
            ) from exc
