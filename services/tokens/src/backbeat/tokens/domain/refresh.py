"""When to refresh a user's Spotify access token, and what a failed refresh means.

Pure decisions over plain values; the service layer does the I/O.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from backbeat.spotify.errors import (
    AccessTokenRejected,
    InvalidClient,
    InvalidGrant,
    RateLimited,
    SpotifyError,
    TransientSpotifyError,
)


class FailureKind(StrEnum):
    # The grant is dead (revoked, expired): stop refreshing until the user reconnects.
    NEEDS_REAUTH = "needs_reauth"
    # Spotify is down, slow or rate limiting: keep the tokens and try again later.
    TRANSIENT = "transient"
    # Our own configuration is wrong (client credentials): nothing the user can do.
    MISCONFIGURED = "misconfigured"


def classify_failure(error: SpotifyError) -> FailureKind:
    """Decide by type, never by message text."""
    if isinstance(error, InvalidGrant):
        return FailureKind.NEEDS_REAUTH
    if isinstance(error, InvalidClient):
        return FailureKind.MISCONFIGURED
    if isinstance(error, TransientSpotifyError | AccessTokenRejected):
        return FailureKind.TRANSIENT
    return FailureKind.MISCONFIGURED


@dataclass(frozen=True)
class RefreshPolicy:
    """How eagerly to refresh and how to back off; every number is a setting."""

    # Refresh this long before expiry, so a handed-out token is good for at least this long.
    margin: timedelta = timedelta(minutes=5)
    # Transient failures are retried inside this budget, then callers are told to try later.
    retry_budget: timedelta = timedelta(seconds=5)
    first_backoff: timedelta = timedelta(milliseconds=200)
    max_backoff: timedelta = timedelta(seconds=2)
    # After the budget is spent, no refresh is tried for this user for a while, so one
    # broken user cannot hammer Spotify.
    cooldown: timedelta = timedelta(seconds=30)

    def needs_refresh(self, expires_at: datetime, now: datetime) -> bool:
        return expires_at - self.margin <= now

    def backoff(self, attempt: int, rng: random.Random, retry_after: float | None) -> timedelta:
        """Full-jitter exponential backoff; a ``Retry-After`` from Spotify is a floor."""
        ceiling = min(self.max_backoff, self.first_backoff * (2**attempt))
        delay = timedelta(seconds=rng.uniform(0, ceiling.total_seconds()))
        if retry_after is not None:
            delay = max(delay, timedelta(seconds=retry_after))
        return delay


def retry_after_of(error: SpotifyError) -> float | None:
    return error.retry_after if isinstance(error, RateLimited) else None
