"""Password policy and argon2id hashing."""

from __future__ import annotations

from backbeat.auth.domain.passwords import (
    Argon2Params,
    PasswordHasher,
    PasswordPolicy,
    PasswordRejection,
)

OWASP_MINIMUM = Argon2Params(memory_kib=19 * 1024, time_cost=2, parallelism=1)


def test_passwords_shorter_than_eight_or_longer_than_the_maximum_are_refused() -> None:
    policy = PasswordPolicy(min_length=8, max_length=64)
    assert policy.check("seven77") is PasswordRejection.TOO_SHORT
    assert policy.check("x" * 65) is PasswordRejection.TOO_LONG
    assert policy.check("eight888") is None


def test_hashes_are_argon2id_with_the_configured_parameters() -> None:
    stored = PasswordHasher(OWASP_MINIMUM).hash("correct horse")
    assert stored.startswith("$argon2id$")
    assert "m=19456,t=2,p=1" in stored


def test_the_right_password_verifies_and_a_wrong_one_does_not() -> None:
    hasher = PasswordHasher(OWASP_MINIMUM)
    stored = hasher.hash("correct horse")
    assert hasher.verify(stored, "correct horse")
    assert not hasher.verify(stored, "correct horsE")
    assert not hasher.verify("not a hash", "correct horse")


def test_a_hash_made_with_older_parameters_needs_rehashing() -> None:
    old = PasswordHasher(OWASP_MINIMUM).hash("correct horse")
    stronger = PasswordHasher(Argon2Params(memory_kib=19 * 1024, time_cost=3, parallelism=1))
    assert stronger.needs_rehash(old)
    assert stronger.verify(old, "correct horse")
    assert not stronger.needs_rehash(stronger.hash("correct horse"))


def test_the_dummy_verification_never_signs_anyone_in() -> None:
    hasher = PasswordHasher(OWASP_MINIMUM)
    assert hasher.verify_dummy("backbeat dummy password for unknown accounts") is False
