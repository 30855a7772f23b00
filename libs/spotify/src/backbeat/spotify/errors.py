"""Typed failures of Spotify calls. The type says what to do next:

- `AccessTokenRejected`: get a fresh access token (refresh), then try again.
- `PermanentSpotifyError`: trying again will not help (`InvalidGrant`: the user must reconnect).
- `TransientSpotifyError`: try again later (`RateLimited.retry_after` says when).

Messages carry Spotify's own wording and status, never a token or secret.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx

from backbeat.runtime.retry_after import parse_retry_after


class SpotifyError(Exception):
    """Any failed call to Spotify's accounts service or Web API."""

    def __init__(
        self, message: str, *, status: int | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(status={self.status!r}, reason={self.reason!r}, message={self.message!r})"


# -- access token ---------------------------------------------------------------------------


class AccessTokenRejected(SpotifyError):
    """401: the access token is not accepted; refresh and retry."""


class AccessTokenExpired(AccessTokenRejected):
    """401 "The access token expired"."""


class AccessTokenInvalid(AccessTokenRejected):
    """401 for a token Spotify does not know (revoked, or never issued)."""


# -- permanent ------------------------------------------------------------------------------


class PermanentSpotifyError(SpotifyError):
    """Repeating the same call will fail the same way."""


class AccountsError(PermanentSpotifyError):
    """The accounts service refused a token request; `error` is the OAuth error code."""

    def __init__(self, error: str, description: str, *, status: int) -> None:
        super().__init__(f"{error}: {description}", status=status)
        self.error = error
        self.description = description


class InvalidGrant(AccountsError):
    """The code or refresh token is dead (revoked, expired, used): the user must reconnect."""


class InvalidClient(AccountsError):
    """The app's credentials are wrong: a configuration problem, not the user's."""


class Forbidden(PermanentSpotifyError):
    """403: Spotify understood and refuses."""


class InsufficientScope(Forbidden):
    """401/403 because the user did not grant a scope this call needs."""


class PlayerCommandRejected(PermanentSpotifyError):
    """A player command refused with a `reason` (Spotify's player error reasons)."""


class NoActiveDevice(PlayerCommandRejected):
    """404 NO_ACTIVE_DEVICE: the user has no Spotify app open to control."""


class PremiumRequired(PlayerCommandRejected, Forbidden):
    """403 PREMIUM_REQUIRED: player control needs Spotify Premium."""


class NotFound(PermanentSpotifyError):
    """404 without a player reason (for example an unknown device id)."""


class BadRequest(PermanentSpotifyError):
    """400 or another 4xx this library has no better type for."""


class UnexpectedResponse(PermanentSpotifyError):
    """A 2xx whose body does not parse as the documented shape."""


# -- transient ------------------------------------------------------------------------------


class TransientSpotifyError(SpotifyError):
    """5xx, timeouts and connection failures: keep the tokens, try again later."""


class RateLimited(TransientSpotifyError):
    """429; `retry_after` is the wait Spotify asked for in seconds (None if it named none)."""

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message, status=429)
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"RateLimited(retry_after={self.retry_after!r}, message={self.message!r})"


def _response_date(response: httpx.Response) -> datetime | None:
    raw = response.headers.get("date")
    if raw is None:
        return None
    try:
        return parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None


def _error_body(response: httpx.Response) -> tuple[str | None, str | None]:
    """Spotify's (message, reason) from `{"error": {...}}`, or (None, None) if not that shape."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = error.get("message")
        reason = error.get("reason")
        return (str(message) if message is not None else None, str(reason) if reason else None)
    if isinstance(error, str):
        # The accounts service's RFC 6749 shape, seen when a Web API call hits it by mistake.
        description = body.get("error_description")
        return (f"{error}: {description}" if description else error), None
    return None, None


def web_api_error(response: httpx.Response) -> SpotifyError:
    """The exception for a failed Web API response."""
    status = response.status_code
    message, reason = _error_body(response)
    text = message or response.reason_phrase or f"HTTP {status}"
    lowered = text.lower()
    if status == 429:
        retry_after = parse_retry_after(
            response.headers.get("retry-after"), now=_response_date(response)
        )
        return RateLimited(text, retry_after=retry_after)
    if status >= 500:
        return TransientSpotifyError(text, status=status, reason=reason)
    if reason == "PREMIUM_REQUIRED":
        return PremiumRequired(text, status=status, reason=reason)
    if reason == "NO_ACTIVE_DEVICE":
        return NoActiveDevice(text, status=status, reason=reason)
    if status == 401:
        if "expired" in lowered:
            return AccessTokenExpired(text, status=status)
        if "scope" in lowered or "permission" in lowered:
            return InsufficientScope(text, status=status)
        return AccessTokenInvalid(text, status=status)
    if status == 403:
        if "scope" in lowered or "permission" in lowered:
            return InsufficientScope(text, status=status, reason=reason)
        if reason is not None:
            return PlayerCommandRejected(text, status=status, reason=reason)
        return Forbidden(text, status=status)
    if status == 404:
        if reason is not None:
            return PlayerCommandRejected(text, status=status, reason=reason)
        return NotFound(text, status=status)
    return BadRequest(text, status=status, reason=reason)


def accounts_error(response: httpx.Response) -> SpotifyError:
    """The exception for a failed token request (`{"error", "error_description"}`)."""
    status = response.status_code
    if status == 429:
        retry_after = parse_retry_after(
            response.headers.get("retry-after"), now=_response_date(response)
        )
        return RateLimited("accounts service rate limit", retry_after=retry_after)
    if status >= 500:
        return TransientSpotifyError(f"accounts service failed: HTTP {status}", status=status)
    error, description = "unknown_error", response.reason_phrase or f"HTTP {status}"
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        error = body["error"]
        description = str(body.get("error_description") or error)
    if error == "invalid_grant":
        return InvalidGrant(error, description, status=status)
    if error == "invalid_client":
        return InvalidClient(error, description, status=status)
    return AccountsError(error, description, status=status)
