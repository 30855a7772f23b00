"""Password policy and argon2id hashing.

Hashing is CPU and memory work, not I/O; callers run it off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError


class PasswordRejection(StrEnum):
    TOO_SHORT = "password_too_short"
    TOO_LONG = "password_too_long"


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """Length bounds only, as NIST SP 800-63B advises: no composition rules. The maximum
    keeps a megabyte "password" from becoming a denial of service."""

    min_length: int = 8
    max_length: int = 128

    def check(self, password: str) -> PasswordRejection | None:
        if len(password) < self.min_length:
            return PasswordRejection.TOO_SHORT
        if len(password) > self.max_length:
            return PasswordRejection.TOO_LONG
        return None


@dataclass(frozen=True, slots=True)
class Argon2Params:
    memory_kib: int
    time_cost: int
    parallelism: int


class PasswordHasher:
    """argon2id with the configured parameters; hashes made with other parameters verify and
    report that they need rehashing."""

    def __init__(self, params: Argon2Params) -> None:
        self.params = params
        self._argon2 = Argon2Hasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            type=Type.ID,
        )
        # Verified against when the account does not exist, so that answer takes as long
        # as a wrong password for a real account.
        self._dummy_hash = self._argon2.hash("backbeat dummy password for unknown accounts")

    def hash(self, password: str) -> str:
        return self._argon2.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            # A mismatch, or a stored hash this library cannot read: either way, no sign-in.
            return False

    def verify_dummy(self, password: str) -> bool:
        """Spend the time of one verification; always False."""
        self.verify(self._dummy_hash, password)
        return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._argon2.check_needs_rehash(password_hash)
