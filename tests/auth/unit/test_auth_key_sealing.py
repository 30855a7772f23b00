"""Signing keys at rest open only with the right secret and on their own row."""

from __future__ import annotations

import pytest

from backbeat.auth.store.sealing import KeySealer, KeyUnsealError


def test_a_sealed_key_opens_with_the_same_secret_and_kid() -> None:
    sealer = KeySealer("a-long-enough-secret")
    sealed = sealer.seal("kid-1", b"\x01" * 32)
    assert b"\x01" * 32 not in sealed
    assert sealer.unseal("kid-1", sealed) == b"\x01" * 32


def test_a_wrong_secret_fails_loudly() -> None:
    sealed = KeySealer("a-long-enough-secret").seal("kid-1", b"\x01" * 32)
    with pytest.raises(KeyUnsealError):
        KeySealer("another-long-secret!").unseal("kid-1", sealed)


def test_a_sealed_key_moved_to_another_kid_does_not_open() -> None:
    sealer = KeySealer("a-long-enough-secret")
    with pytest.raises(KeyUnsealError):
        sealer.unseal("kid-2", sealer.seal("kid-1", b"\x01" * 32))
