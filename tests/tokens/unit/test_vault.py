"""The credentials vault: tokens are unreadable without the key, and bound to their row."""

from __future__ import annotations

import base64

import pytest

from backbeat.tokens.domain.vault import (
    CredentialField,
    KeyRing,
    KeyRingError,
    SealedSecret,
    VaultError,
    open_sealed,
    reseal,
    seal,
)

REFRESH = "AQD-refresh-token-from-spotify"


def ring(*key_ids: str, active: str | None = None) -> KeyRing:
    return KeyRing.parse(",".join(f"{k}:{KeyRing.generate_key()}" for k in key_ids), active=active)


def test_a_sealed_token_opens_for_its_own_row_and_contains_no_plaintext() -> None:
    keys = ring("k1")
    sealed = seal(keys, "user-1", CredentialField.REFRESH_TOKEN, REFRESH)
    assert REFRESH.encode() not in sealed.blob
    assert open_sealed(keys, "user-1", CredentialField.REFRESH_TOKEN, sealed) == REFRESH


def test_a_ciphertext_copied_to_another_users_row_does_not_decrypt() -> None:
    keys = ring("k1")
    sealed = seal(keys, "user-1", CredentialField.REFRESH_TOKEN, REFRESH)
    with pytest.raises(VaultError, match="does not belong"):
        open_sealed(keys, "user-2", CredentialField.REFRESH_TOKEN, sealed)


def test_a_ciphertext_moved_to_another_column_does_not_decrypt() -> None:
    keys = ring("k1")
    sealed = seal(keys, "user-1", CredentialField.REFRESH_TOKEN, REFRESH)
    with pytest.raises(VaultError):
        open_sealed(keys, "user-1", CredentialField.ACCESS_TOKEN, sealed)


def test_a_tampered_ciphertext_is_rejected() -> None:
    keys = ring("k1")
    sealed = seal(keys, "user-1", CredentialField.REFRESH_TOKEN, REFRESH)
    flipped = bytes([sealed.blob[20] ^ 1])
    tampered = SealedSecret(sealed.key_id, sealed.blob[:20] + flipped + sealed.blob[21:])
    with pytest.raises(VaultError):
        open_sealed(keys, "user-1", CredentialField.REFRESH_TOKEN, tampered)


def test_two_seals_of_the_same_token_differ() -> None:
    keys = ring("k1")
    a = seal(keys, "user-1", CredentialField.ACCESS_TOKEN, "same")
    b = seal(keys, "user-1", CredentialField.ACCESS_TOKEN, "same")
    assert a.blob != b.blob


def test_rotation_reads_old_rows_and_reseals_them_under_the_new_key() -> None:
    old = ring("k1")
    sealed = seal(old, "user-1", CredentialField.REFRESH_TOKEN, REFRESH)
    rotated = KeyRing(
        keys={**old.keys, "k2": base64.b64decode(KeyRing.generate_key())}, active="k2"
    )
    assert open_sealed(rotated, "user-1", CredentialField.REFRESH_TOKEN, sealed) == REFRESH
    moved = reseal(rotated, "user-1", CredentialField.REFRESH_TOKEN, sealed)
    assert moved.key_id == "k2"
    assert open_sealed(rotated, "user-1", CredentialField.REFRESH_TOKEN, moved) == REFRESH
    retired = KeyRing(keys={"k2": rotated.keys["k2"]}, active="k2")
    assert open_sealed(retired, "user-1", CredentialField.REFRESH_TOKEN, moved) == REFRESH
    with pytest.raises(VaultError, match="no key 'k1'"):
        open_sealed(retired, "user-1", CredentialField.REFRESH_TOKEN, sealed)


def test_the_active_key_defaults_to_the_last_one_listed() -> None:
    assert ring("k1", "k2").active == "k2"
    assert ring("k1", "k2", active="k1").active == "k1"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("k1", "<key id>:<base64 key>"),
        ("k1:not base64!", "not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "32 bytes"),
        (f"bad id:{KeyRing.generate_key()}", "letters, digits"),
    ],
)
def test_a_bad_key_ring_is_refused_without_echoing_key_material(spec: str, message: str) -> None:
    with pytest.raises(KeyRingError, match=message) as info:
        KeyRing.parse(spec)
    secret_part = spec.partition(":")[2]
    assert not secret_part or secret_part not in str(info.value)


def test_the_key_ring_repr_shows_ids_only() -> None:
    keys = ring("k1")
    assert base64.b64encode(keys.keys["k1"]).decode() not in repr(keys)
    assert "k1" in repr(keys)
