"""Asks the tokens service for a user's current Spotify access token.

The request carries this service's own JWT (client-credentials grant at auth, audience
``tokens``, scope ``tokens:read``). Tokens' refusals become types: the user has no
connection, the user must reconnect, or it cannot tell now (try later). The token is never
logged, and is not kept here: asking each time lets a disconnect take effect at once, and
each hand-out is audited by tokens.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import httpx

from backbeat.authn.service_tokens import (
    PermanentServiceTokenError,
    ServiceTokenAuth,
    ServiceTokenClient,
    ServiceTokenError,
)

log = logging.getLogger(__name__)

# When tokens gives no Retry-After of its own.
DEFAULT_RETRY_AFTER_S = 5.0


class SpotifyTokenUnavailable(Exception):
    """No access token for the user."""


class NotConnected(SpotifyTokenUnavailable):
    """The user has not connected Spotify (or disconnected it)."""


class NeedsReauth(SpotifyTokenUnavailable):
    """Spotify no longer accepts the user's grant: they must connect again."""


class TokensUnavailable(SpotifyTokenUnavailable):
    """Transient: tokens (or Spotify behind it) cannot hand a token out right now."""

    def __init__(self, message: str, retry_after_s: float = DEFAULT_RETRY_AFTER_S) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def _problem_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def _retry_after(response: httpx.Response) -> float:
    raw = response.headers.get("retry-after", "")
    return float(raw) if raw.isdigit() else DEFAULT_RETRY_AFTER_S


class SpotifyTokenSource:
    """``access_token(user_id)`` from the tokens service at ``tokens_url``."""

    def __init__(
        self, tokens_url: str, *, http: httpx.AsyncClient, service_tokens: ServiceTokenClient
    ) -> None:
        self.tokens_url = tokens_url.rstrip("/")
        self.http = http
        self.service_tokens = service_tokens
        self.auth = ServiceTokenAuth(service_tokens)

    async def access_token(self, user_id: str) -> str:
        url = f"{self.tokens_url}/internal/v1/users/{quote(user_id, safe='')}/spotify/access-token"
        try:
            response = await self.http.get(url, auth=self.auth)
        except PermanentServiceTokenError as exc:
            # Auth refuses this service's own credentials: an operator must fix the settings.
            log.error("auth refused the playback service's client credentials: %s", exc.error)
            raise TokensUnavailable("no service token for tokens") from exc
        except ServiceTokenError as exc:
            raise TokensUnavailable("auth could not give a service token") from exc
        except httpx.HTTPError as exc:
            raise TokensUnavailable(f"tokens unreachable ({type(exc).__name__})") from exc
        code = _problem_code(response) if response.status_code != 200 else None
        if response.status_code == 200:
            token = response.json().get("access_token")
            if not isinstance(token, str) or not token:
                raise TokensUnavailable("tokens answered without a token")
            return token
        if response.status_code == 404 and code == "not_connected":
            raise NotConnected("the user has no Spotify connection")
        if response.status_code == 409 and code == "needs_reauth":
            raise NeedsReauth("the user must reconnect Spotify")
        if response.status_code == 503:
            raise TokensUnavailable("tokens asks to try later", _retry_after(response))
        # 401/403 after a fresh service token, or anything unplanned: the deployment is wrong.
        log.error(
            "tokens refused the access-token request",
            extra={"status": response.status_code, "code": code},
        )
        raise TokensUnavailable(f"tokens answered {response.status_code}")
