"""A user's Spotify access token, from the tokens service's hand-out: the one client every
service that calls Spotify for a user uses (the watcher, playback).

The request carries the calling service's own JWT (client-credentials grant at auth, audience
``tokens``, scope ``tokens:read``): pass ``auth`` (a `ServiceTokenAuth`) or an ``http`` client
that already sends it. Tokens' refusals become types, decided by its stable problem codes:

- `NotConnected` (404 ``not_connected``): the user has no Spotify connection;
- `NeedsReauth` (409 ``needs_reauth``): Spotify no longer accepts the grant; the user must
  connect again;
- `TokensTryLater`: anything else: tokens or auth unreachable, tokens asking to wait
  (``retry_after_s`` from its Retry-After, None when it gave none), or an answer that means
  the deployment is wrong (our credentials refused, an unknown path), which is also logged.

``cache_margin_s``: keep each token until that long before it expires (the watcher: tokens
being down costs nothing while tokens are valid); None asks every time (playback: a
disconnect takes effect at once, and every hand-out is audited by tokens). The token itself is
never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote

import httpx

from backbeat.authn.service_tokens import PermanentServiceTokenError, ServiceTokenError
from backbeat.runtime.retry_after import parse_retry_after

log = logging.getLogger(__name__)

HANDOUT_PATH = "/internal/v1/users/{user_id}/spotify/access-token"


class AccessTokenUnavailable(Exception):
    """No access token for the user right now."""


class NotConnected(AccessTokenUnavailable):
    """The user has no Spotify connection (or disconnected it)."""


class NeedsReauth(AccessTokenUnavailable):
    """Spotify no longer accepts the user's grant: they must connect again."""


class TokensTryLater(AccessTokenUnavailable):
    """Tokens (or auth, for the caller's own token) cannot answer now; retry later."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SpotifyAccessTokens:
    """``access_token(user_id)`` from the tokens service at ``tokens_url``."""

    def __init__(
        self,
        tokens_url: str,
        http: httpx.AsyncClient,
        *,
        auth: httpx.Auth | None = None,
        cache_margin_s: float | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._base = tokens_url.rstrip("/")
        self._http = http
        self._auth = auth
        self._margin_s = cache_margin_s
        self._wall_clock = wall_clock
        # user id -> (token, Unix seconds after which it is asked for again)
        self._cache: dict[str, tuple[str, float]] = {}

    def invalidate(self, user_id: str) -> None:
        """Spotify refused the token (401), or the user's connection changed: ask again."""
        self._cache.pop(user_id, None)

    async def access_token(self, user_id: str) -> str:
        """A token Spotify should accept for ``user_id``; raises `AccessTokenUnavailable`."""
        cached = self._cache.get(user_id)
        if cached is not None and self._wall_clock() < cached[1]:
            return cached[0]
        url = self._base + HANDOUT_PATH.format(user_id=quote(user_id, safe=""))
        try:
            if self._auth is None:
                response = await self._http.get(url)
            else:
                response = await self._http.get(url, auth=self._auth)
        except PermanentServiceTokenError as exc:
            # Auth refuses this service's own credentials: an operator must fix the settings.
            log.error("auth refused this service's client credentials: %s", exc.error)
            raise TokensTryLater("no service token for tokens") from exc
        except ServiceTokenError as exc:
            raise TokensTryLater(f"no service token: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise TokensTryLater(f"tokens unreachable: {type(exc).__name__}") from exc
        if response.status_code == 200:
            return self._accepted(user_id, response)
        code = _problem_code(response)
        if response.status_code == 404 and code == "not_connected":
            raise NotConnected("the user has no Spotify connection")
        if response.status_code == 409 and code == "needs_reauth":
            raise NeedsReauth("the user must reconnect Spotify")
        if response.status_code < 500 and response.status_code != 429:
            # Our credentials or grants refused after a fresh service token, or a path tokens
            # does not know: the deployment is wrong, and trying again will not mend it.
            log.error(
                "tokens refused the access-token request",
                extra={"status": response.status_code, "code": code},
            )
        raise TokensTryLater(
            f"tokens answered {response.status_code}",
            parse_retry_after(response.headers.get("retry-after")),
        )

    def _accepted(self, user_id: str, response: httpx.Response) -> str:
        try:
            body = response.json()
            token = body["access_token"]
            expires_at = datetime.fromisoformat(str(body["expires_at"])).timestamp()
        except (ValueError, KeyError, TypeError) as exc:
            raise TokensTryLater("tokens answered an unexpected body") from exc
        if not isinstance(token, str) or not token:
            raise TokensTryLater("tokens answered without a token")
        if self._margin_s is not None:
            self._cache[user_id] = (token, expires_at - self._margin_s)
        return token


def _problem_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None
