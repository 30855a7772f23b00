"""Signing-key rotation schedule: who signs, who is published, who is retired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backbeat.auth.domain.keys import (
    KeySchedule,
    generate_signing_key,
    published_keys,
    retired_keys,
    rotation_due,
    signing_key,
    thumbprint,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
SCHEDULE = KeySchedule(
    longest_token_ttl=timedelta(minutes=10),
    retirement_grace=timedelta(minutes=1),
    rotation_interval=timedelta(days=30),
)


def kids(keys: list) -> list[str]:  # type: ignore[type-arg]
    return [k.kid for k in keys]


def test_the_newest_active_key_signs() -> None:
    old = generate_signing_key(T0)
    new = generate_signing_key(T0 + timedelta(days=30))
    assert signing_key([old, new], T0 + timedelta(days=30)) is new
    assert signing_key([old, new], T0 + timedelta(days=29)) is old


def test_a_key_scheduled_for_later_is_published_but_does_not_sign_yet() -> None:
    old = generate_signing_key(T0)
    pending = generate_signing_key(T0, activates_at=T0 + timedelta(hours=1))
    now = T0 + timedelta(minutes=5)
    assert signing_key([old, pending], now) is old
    assert kids(published_keys([old, pending], now, SCHEDULE)) == [old.kid, pending.kid]


def test_a_replaced_key_stays_published_until_its_last_token_expired() -> None:
    old = generate_signing_key(T0)
    rotated_at = T0 + timedelta(days=30)
    new = generate_signing_key(rotated_at)
    keys = [old, new]
    within = rotated_at + timedelta(minutes=10, seconds=59)
    after = rotated_at + timedelta(minutes=11)
    assert kids(published_keys(keys, within, SCHEDULE)) == [old.kid, new.kid]
    assert kids(published_keys(keys, after, SCHEDULE)) == [new.kid]
    assert kids(retired_keys(keys, after, SCHEDULE)) == [old.kid]


def test_rotation_is_due_without_keys_and_after_the_interval() -> None:
    key = generate_signing_key(T0)
    assert rotation_due([], T0, SCHEDULE)
    assert not rotation_due([key], T0 + timedelta(days=29), SCHEDULE)
    assert rotation_due([key], T0 + timedelta(days=30), SCHEDULE)


def test_rotation_is_not_due_while_a_new_key_waits_to_activate() -> None:
    key = generate_signing_key(T0)
    pending = generate_signing_key(T0, activates_at=T0 + timedelta(days=31))
    assert not rotation_due([key, pending], T0 + timedelta(days=30), SCHEDULE)


def test_the_kid_is_the_rfc7638_thumbprint_of_the_public_key() -> None:
    key = generate_signing_key(T0)
    assert key.kid == thumbprint(key.public_jwk()["x"])
    # RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
    assert (
        thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
        == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    )


def test_a_signing_key_never_shows_its_private_part() -> None:
    key = generate_signing_key(T0)
    assert "private" not in repr(key).lower()
    assert "d" not in key.public_jwk()
