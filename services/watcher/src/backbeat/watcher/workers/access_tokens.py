"""Users' Spotify access tokens, from the tokens service, cached until shortly before expiry.

The watcher proves itself to tokens with its own service JWT (client-credentials grant at
auth). Refusals are typed: a user not connected or needing re-authorisation is not polled
until its connection state changes; anything else is worth retrying later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol
from urllib.parse import quote

import httpx

from backbeat.authn.service_tokens import ServiceTokenError

log = logging.getLogger(__name__)


class AccessTokenUnavailable(Exception):
    """No access token for the user right now."""


class UserNotConnected(AccessTokenUnavailable):
    """The user has no Spotify connection (tokens answered 404)."""


class UserNeedsReauth(AccessTokenUnavailable):
    """The user must reconnect Spotify (tokens answered 409)."""


class TokensTryLater(AccessTokenUnavailable):
    """Tokens (or auth, for the watcher's own token) cannot answer now; retry later."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AccessTokenSource(Protocol):
    async def access_token(self, user_id: str) -> str:
        """A token Spotify should accept for ``user_id``; raises `AccessTokenUnavailable`."""
        ...

    def invalidate(self, user_id: str) -> None:
        """Spotify refused the cached token (401): the next call asks again."""
        ...


class TokensServiceAccessTokens:
    """Asks the tokens service, with the watcher's service JWT on ``http``."""

    def __init__(
        self,
        tokens_url: str,
        http: httpx.AsyncClient,
        *,
        margin_s: float = 60.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._base = tokens_url.rstrip("/")
        self._http = http
        self._margin_s = margin_s
        self._wall_clock = wall_clock
        # user id -> (token, Unix seconds after which it is asked for again)
        self._cache: dict[str, tuple[str, float]] = {}

    def invalidate(self, user_id: str) -> None:
        self._cache.pop(user_id, None)

    def forget(self, user_id: str) -> None:
        self._cache.pop(user_id, None)

    async def access_token(self, user_id: str) -> str:
        cached = self._cache.get(user_id)
        if cached is not None and self._wall_clock() < cached[1]:
            return cached[0]
        url = f"{self._base}/internal/v1/users/{quote(user_id, safe='')}/spotify/access-token"
        try:
            response = await self._http.get(url)
        except ServiceTokenError as exc:
            raise TokensTryLater(f"no service token: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise TokensTryLater(f"tokens unreachable: {type(exc).__name__}") from exc
        if response.status_code == 404:
            raise UserNotConnected(user_id)
        if response.status_code == 409:
            raise UserNeedsReauth(user_id)
        if response.status_code != 200:
            if response.status_code in (401, 403):
                # Our own credentials or grants are wrong: an operator must act; keep trying.
                log.error("tokens refused the watcher", extra={"status": response.status_code})
            raise TokensTryLater(
                f"tokens answered {response.status_code}",
                _retry_after(response.headers.get("retry-after")),
            )
        try:
            body = response.json()
            token = str(body["access_token"])
            expires_at = datetime.fromisoformat(str(body["expires_at"])).timestamp()
        except (ValueError, KeyError, TypeError) as exc:
            raise TokensTryLater("tokens answered an unexpected body") from exc
        self._cache[user_id] = (token, expires_at - self._margin_s)
        return token


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None
    return float(value)
