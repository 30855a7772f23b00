"""Refresh-token rotation: what presenting a refresh token leads to.

Every refresh token is used once. Presenting one that was already rotated means two parties
hold the same session (the token leaked), so the whole session (the token family) ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    idle_ttl: timedelta
    absolute_ttl: timedelta

    def session_expiry(self, started_at: datetime) -> datetime:
        return started_at + self.absolute_ttl

    def token_expiry(self, now: datetime, session_expires_at: datetime) -> datetime:
        """A new refresh token lives for the idle lifetime, never past its session's end."""
        return min(now + self.idle_ttl, session_expires_at)


@dataclass(frozen=True, slots=True)
class PresentedRefreshToken:
    """What the store knows about a presented token and its session."""

    rotated_at: datetime | None
    expires_at: datetime
    session_expires_at: datetime
    session_revoked_at: datetime | None


class RefreshOutcome(StrEnum):
    ROTATE = "rotate"
    REUSED = "refresh_token_reused"
    EXPIRED = "refresh_token_expired"
    REVOKED = "session_revoked"


def decide_refresh(token: PresentedRefreshToken, now: datetime) -> RefreshOutcome:
    # Revocation first: a token of an ended session is refused the same way whether or not
    # it was rotated, and reuse of it has nothing left to revoke.
    if token.session_revoked_at is not None:
        return RefreshOutcome.REVOKED
    if token.rotated_at is not None:
        return RefreshOutcome.REUSED
    if now >= token.expires_at or now >= token.session_expires_at:
        return RefreshOutcome.EXPIRED
    return RefreshOutcome.ROTATE
