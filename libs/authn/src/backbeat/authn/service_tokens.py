"""Gets and caches this service's own access token with the OAuth 2.0 client-credentials grant.

One token per (audience, scopes) is kept until shortly before it expires; concurrent callers
share one request to auth. Failures are typed: a permanent one (wrong secret, scope not
granted) needs an operator, a transient one (auth unreachable, 5xx) is worth retrying.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass

import httpx


class ServiceTokenError(Exception):
    """The token endpoint did not give a token."""


class PermanentServiceTokenError(ServiceTokenError):
    """Auth refused the request (RFC 6749 ``error``): retrying will not help."""

    def __init__(self, error: str, description: str | None = None) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description


class TransientServiceTokenError(ServiceTokenError):
    """Auth could not be reached or failed on its side: retry later."""


@dataclass(frozen=True, slots=True)
class _CachedToken:
    access_token: str
    refresh_after: float


class ServiceTokenClient:
    """The service-token source of one internal client for one target audience."""

    def __init__(
        self,
        token_url: str,
        *,
        client_id: str,
        client_secret: str,
        audience: str,
        scopes: Sequence[str] = (),
        http: httpx.AsyncClient | None = None,
        refresh_margin_s: float = 60.0,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.audience = audience
        self.scopes = tuple(scopes)
        self._http = http or httpx.AsyncClient(timeout=timeout_s)
        self._owns_http = http is None
        self.refresh_margin_s = refresh_margin_s
        self._clock = clock
        self._cached: _CachedToken | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"ServiceTokenClient(client_id={self.client_id!r}, audience={self.audience!r})"

    async def token(self) -> str:
        """A valid access token, fetched only when the cached one is near its expiry."""
        cached = self._cached
        if cached is not None and self._clock() < cached.refresh_after:
            return cached.access_token
        async with self._lock:
            cached = self._cached
            if cached is not None and self._clock() < cached.refresh_after:
                return cached.access_token
            self._cached = await self._request_token()
            return self._cached.access_token

    def invalidate(self) -> None:
        """Forget the cached token (the target refused it, for example after a key rotation)."""
        self._cached = None

    async def _request_token(self) -> _CachedToken:
        form = {"grant_type": "client_credentials", "audience": self.audience}
        if self.scopes:
            form["scope"] = " ".join(self.scopes)
        requested_at = self._clock()
        try:
            response = await self._http.post(
                self.token_url,
                data=form,
                auth=httpx.BasicAuth(self.client_id, self._client_secret),
                headers={"accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise TransientServiceTokenError(f"token endpoint unreachable: {exc!r}") from exc
        if response.status_code >= 500:
            raise TransientServiceTokenError(f"token endpoint answered {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise TransientServiceTokenError("token endpoint answered non-JSON") from exc
        if response.status_code != 200:
            error = body.get("error") if isinstance(body, dict) else None
            description = body.get("error_description") if isinstance(body, dict) else None
            raise PermanentServiceTokenError(str(error or response.status_code), description)
        access_token = body.get("access_token")
        expires_in = body.get("expires_in")
        if not isinstance(access_token, str) or not isinstance(expires_in, int | float):
            raise TransientServiceTokenError("token endpoint answered without a token")
        # Counted from when the request was sent, so a slow answer errs towards refreshing early.
        lifetime = float(expires_in)
        margin = min(self.refresh_margin_s, lifetime / 2)
        return _CachedToken(access_token, requested_at + lifetime - margin)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()


class ServiceTokenAuth(httpx.Auth):
    """httpx auth that sends the service token, and on a 401 fetches a new one once."""

    def __init__(self, client: ServiceTokenClient) -> None:
        self.client = client

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {await self.client.token()}"
        response = yield request
        if response.status_code == 401:
            self.client.invalidate()
            request.headers["Authorization"] = f"Bearer {await self.client.token()}"
            yield request
