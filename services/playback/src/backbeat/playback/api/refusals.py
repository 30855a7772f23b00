"""Why a player command failed, as the problem response the caller gets.

One table for every refusal: Spotify's (through the Spotify client's typed errors) and the
tokens service's. The codes are stable; the titles are for people.
"""

from __future__ import annotations

import logging
import math

from backbeat.authn.spotify_access import (
    AccessTokenUnavailable,
    NeedsReauth,
    NotConnected,
    TokensTryLater,
)
from backbeat.runtime.problems import ProblemError
from backbeat.spotify.errors import (
    AccessTokenRejected,
    InsufficientScope,
    NoActiveDevice,
    PlayerCommandRejected,
    PremiumRequired,
    RateLimited,
    SpotifyError,
    TransientSpotifyError,
)

log = logging.getLogger(__name__)

# When Spotify asks for a pause without saying how long.
DEFAULT_RETRY_AFTER_S = 5

# Every status a player command can answer with besides 204 (for the OpenAPI document).
PLAYER_COMMAND_STATUSES = (403, 409, 429, 502, 503)


def _retry_after(seconds: float | None) -> dict[str, str]:
    wait = DEFAULT_RETRY_AFTER_S if seconds is None else max(1, math.ceil(seconds))
    return {"Retry-After": str(wait)}


def refusal_problem(error: SpotifyError | AccessTokenUnavailable) -> ProblemError:
    """The problem response for a failed player command."""
    match error:
        case NotConnected():
            return ProblemError(
                409, "spotify_not_connected", "Connect Spotify to control the player"
            )
        case NeedsReauth():
            return ProblemError(409, "spotify_needs_reauth", "Spotify needs to be connected again")
        case TokensTryLater():
            return ProblemError(
                503,
                "spotify_unavailable",
                "Spotify cannot be reached right now; try again later",
                headers=_retry_after(error.retry_after_s),
            )
        case NoActiveDevice():
            return ProblemError(
                409,
                "no_active_device",
                "No active Spotify device",
                "Open Spotify on a device, then try again",
            )
        case PremiumRequired():
            return ProblemError(
                403, "premium_required", "Controlling the player needs Spotify Premium"
            )
        case AccessTokenRejected() | InsufficientScope():
            # A second refusal after a fresh token (or a scope the user never granted): only
            # connecting again mends it.
            return ProblemError(
                409,
                "spotify_needs_reauth",
                "Spotify needs to be connected again",
                "Spotify did not accept the connection's permissions",
            )
        case RateLimited():
            return ProblemError(
                429,
                "spotify_rate_limited",
                "Spotify asks to slow down",
                headers=_retry_after(error.retry_after),
            )
        case TransientSpotifyError():
            return ProblemError(
                503,
                "spotify_unavailable",
                "Spotify cannot be reached right now; try again later",
                headers=_retry_after(None),
            )
        case PlayerCommandRejected():
            # For example pausing a player that is already paused ("Restriction violated").
            return ProblemError(
                409, "player_command_rejected", "Spotify refused the command", error.message
            )
        case _:
            log.warning("Spotify failed a player command: %r", error)
            return ProblemError(502, "spotify_error", "Spotify failed the command")
