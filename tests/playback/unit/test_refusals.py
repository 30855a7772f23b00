"""Every reason a player command can fail, as the problem response the caller gets."""

from __future__ import annotations

import pytest

from backbeat.authn.spotify_access import NeedsReauth, NotConnected, TokensTryLater
from backbeat.playback.api.refusals import refusal_problem
from backbeat.spotify.errors import (
    AccessTokenInvalid,
    BadRequest,
    InsufficientScope,
    NoActiveDevice,
    PlayerCommandRejected,
    PremiumRequired,
    RateLimited,
    SpotifyError,
    TransientSpotifyError,
)


@pytest.mark.parametrize(
    ("error", "status", "code", "retry_after"),
    [
        (
            NoActiveDevice("no device", status=404, reason="NO_ACTIVE_DEVICE"),
            409,
            "no_active_device",
            None,
        ),
        (
            PremiumRequired("premium", status=403, reason="PREMIUM_REQUIRED"),
            403,
            "premium_required",
            None,
        ),
        (RateLimited("slow down", retry_after=2.2), 429, "spotify_rate_limited", "3"),
        (RateLimited("slow down", retry_after=None), 429, "spotify_rate_limited", "5"),
        (TransientSpotifyError("down", status=502), 503, "spotify_unavailable", "5"),
        (AccessTokenInvalid("Invalid access token", status=401), 409, "spotify_needs_reauth", None),
        (
            InsufficientScope("Insufficient client scope", status=403),
            409,
            "spotify_needs_reauth",
            None,
        ),
        (
            PlayerCommandRejected("Restriction violated", status=403, reason="UNKNOWN"),
            409,
            "player_command_rejected",
            None,
        ),
        (BadRequest("odd", status=400), 502, "spotify_error", None),
        (NotConnected("no"), 409, "spotify_not_connected", None),
        (NeedsReauth("again"), 409, "spotify_needs_reauth", None),
        (TokensTryLater("later", retry_after_s=30), 503, "spotify_unavailable", "30"),
        (TokensTryLater("later"), 503, "spotify_unavailable", "5"),
    ],
)
def test_each_refusal_has_its_status_code_and_retry_hint(
    error: SpotifyError, status: int, code: str, retry_after: str | None
) -> None:
    problem = refusal_problem(error)
    assert (problem.status, problem.code) == (status, code)
    assert (problem.headers or {}).get("Retry-After") == retry_after
