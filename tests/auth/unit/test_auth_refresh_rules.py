"""Refresh-token rotation decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backbeat.auth.domain.refresh import (
    PresentedRefreshToken,
    RefreshOutcome,
    RefreshPolicy,
    decide_refresh,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def token(**changes: object) -> PresentedRefreshToken:
    fields: dict[str, object] = {
        "rotated_at": None,
        "expires_at": NOW + timedelta(days=1),
        "session_expires_at": NOW + timedelta(days=30),
        "session_revoked_at": None,
    }
    fields.update(changes)
    return PresentedRefreshToken(**fields)  # type: ignore[arg-type]


def test_a_fresh_token_is_rotated() -> None:
    assert decide_refresh(token(), NOW) is RefreshOutcome.ROTATE


def test_a_token_presented_again_after_rotation_is_reuse() -> None:
    assert (
        decide_refresh(token(rotated_at=NOW - timedelta(minutes=1)), NOW) is RefreshOutcome.REUSED
    )


def test_a_token_past_its_idle_expiry_is_expired() -> None:
    assert decide_refresh(token(expires_at=NOW), NOW) is RefreshOutcome.EXPIRED


def test_a_token_past_its_session_absolute_expiry_is_expired() -> None:
    assert decide_refresh(token(session_expires_at=NOW - timedelta(seconds=1)), NOW) is (
        RefreshOutcome.EXPIRED
    )


def test_a_token_of_a_revoked_session_is_refused_even_if_rotated() -> None:
    presented = token(rotated_at=NOW, session_revoked_at=NOW)
    assert decide_refresh(presented, NOW) is RefreshOutcome.REVOKED


def test_new_tokens_never_outlive_their_session() -> None:
    policy = RefreshPolicy(idle_ttl=timedelta(days=14), absolute_ttl=timedelta(days=60))
    session_end = policy.session_expiry(NOW)
    assert policy.token_expiry(NOW, session_end) == NOW + timedelta(days=14)
    late = session_end - timedelta(days=1)
    assert policy.token_expiry(late, session_end) == session_end
