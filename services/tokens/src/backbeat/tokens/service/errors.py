"""Outcomes of asking for a user's access token that are not a token. Types, not strings."""

from __future__ import annotations


class HandOutRefused(Exception):
    """Base: no token can be handed out now; ``code`` is the stable API error code."""

    code = "token_unavailable"


class NotConnected(HandOutRefused):
    """The user has no Spotify connection."""

    code = "not_connected"


class NeedsReauth(HandOutRefused):
    """Spotify rejected the grant for good; the user must connect again."""

    code = "needs_reauth"


class TryLater(HandOutRefused):
    """Spotify is unavailable or limiting us; the credentials are kept. Retry after a while."""

    code = "try_later"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
