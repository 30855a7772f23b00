"""Refresh decisions: when to refresh, and how failures are told apart by type."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from backbeat.spotify.errors import (
    AccessTokenExpired,
    InvalidClient,
    InvalidGrant,
    RateLimited,
    SpotifyError,
    TransientSpotifyError,
)
from backbeat.tokens.domain.refresh import FailureKind, RefreshPolicy, classify_failure

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_a_token_is_refreshed_only_inside_the_margin_before_expiry() -> None:
    policy = RefreshPolicy(margin=timedelta(minutes=5))
    assert not policy.needs_refresh(NOW + timedelta(minutes=6), NOW)
    assert policy.needs_refresh(NOW + timedelta(minutes=5), NOW)
    assert policy.needs_refresh(NOW - timedelta(seconds=1), NOW)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            InvalidGrant("invalid_grant", "Refresh token revoked", status=400),
            FailureKind.NEEDS_REAUTH,
        ),
        (InvalidClient("invalid_client", "Invalid client", status=401), FailureKind.MISCONFIGURED),
        (TransientSpotifyError("bad gateway", status=502), FailureKind.TRANSIENT),
        (RateLimited("too many requests", retry_after=3), FailureKind.TRANSIENT),
        (AccessTokenExpired("expired", status=401), FailureKind.TRANSIENT),
    ],
)
def test_failures_are_classified_by_type(error: SpotifyError, kind: FailureKind) -> None:
    assert classify_failure(error) is kind


def test_backoff_grows_is_bounded_and_honours_retry_after() -> None:
    policy = RefreshPolicy(
        first_backoff=timedelta(milliseconds=100), max_backoff=timedelta(seconds=1)
    )
    rng = random.Random(7)
    for attempt in range(10):
        delay = policy.backoff(attempt, rng, retry_after=None)
        assert (
            timedelta(0)
            <= delay
            <= min(timedelta(seconds=1), timedelta(milliseconds=100 * 2**attempt))
        )
    assert policy.backoff(0, rng, retry_after=4.0) >= timedelta(seconds=4)
