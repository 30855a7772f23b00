"""The async Spotify client: token endpoint calls and the Web API player endpoints.

One `SpotifyClient` (and one httpx connection pool) serves every user of a process; the
user's access token is an argument of each Web API call.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from backbeat.spotify.errors import (
    TransientSpotifyError,
    UnexpectedResponse,
    accounts_error,
    web_api_error,
)
from backbeat.spotify.models import (
    CurrentlyPlaying,
    PlaybackState,
    RecentlyPlayed,
    TokenGrant,
    UserProfile,
)
from backbeat.spotify.settings import SpotifySettings
from backbeat.spotify.transport import ShardedTransport

ModelT = TypeVar("ModelT", bound=BaseModel)


def create_http_client(settings: SpotifySettings) -> httpx.AsyncClient:
    """The pooled HTTP client to share across the process (and to pass to every client)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.timeout_s),
        transport=ShardedTransport(
            max_connections=settings.max_connections, shard_size=settings.pool_shard_size
        ),
        headers={"Accept": "application/json"},
    )


class SpotifyClient:
    """Calls Spotify for one app. Pass `http` to share a pool; otherwise one is made and
    closed by `aclose()` (or `async with`)."""

    def __init__(self, settings: SpotifySettings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._owns_http = http is None
        self._http = http or create_http_client(settings)
        self._accounts = settings.accounts_base_url.rstrip("/")
        self._api = settings.api_base_url.rstrip("/") + "/v1"

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> SpotifyClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- accounts service ----------------------------------------------------------------

    async def exchange_code(self, code: str, *, code_verifier: str | None = None) -> TokenGrant:
        """Redeem an authorization code. A public client must give the PKCE `code_verifier`."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.settings.redirect_uri,
        }
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        return await self._token_request(form)

    async def refresh(self, refresh_token: str) -> TokenGrant:
        """A new access token; the answer's `refresh_token` is None when the old one stays."""
        return await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )

    async def _token_request(self, form: dict[str, str]) -> TokenGrant:
        headers: dict[str, str] = {}
        secret = self.settings.client_secret
        if secret is None:
            form = {**form, "client_id": self.settings.client_id}
        else:
            # RFC 6749 section 2.3.1: each part is form-encoded before the base64.
            user = quote(self.settings.client_id, safe="")
            password = quote(secret.get_secret_value(), safe="")
            basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {basic}"
        response = await self._send(
            "POST", f"{self._accounts}/api/token", data=form, headers=headers
        )
        if response.status_code != 200:
            raise accounts_error(response)
        return self._parse(TokenGrant, response)

    # -- Web API -------------------------------------------------------------------------

    async def current_user(self, access_token: str) -> UserProfile:
        response = await self._api_call("GET", "/me", access_token)
        return self._parse(UserProfile, response)

    async def playback_state(
        self, access_token: str, *, additional_types: tuple[str, ...] = ("track", "episode")
    ) -> PlaybackState | None:
        """The user's player, or None when nothing is playing (Spotify's 204)."""
        params = {"additional_types": ",".join(additional_types)}
        response = await self._api_call("GET", "/me/player", access_token, params=params)
        if _nothing_playing(response):
            return None
        return self._parse(PlaybackState, response)

    async def currently_playing(
        self, access_token: str, *, additional_types: tuple[str, ...] = ("track", "episode")
    ) -> CurrentlyPlaying | None:
        """What plays now, or None when nothing is playing (Spotify's 204)."""
        params = {"additional_types": ",".join(additional_types)}
        response = await self._api_call(
            "GET", "/me/player/currently-playing", access_token, params=params
        )
        if _nothing_playing(response):
            return None
        return self._parse(CurrentlyPlaying, response)

    async def recently_played(
        self,
        access_token: str,
        *,
        limit: int = 20,
        after: int | None = None,
        before: int | None = None,
    ) -> RecentlyPlayed:
        """Recently played tracks, newest first; `after`/`before` are Unix milliseconds."""
        if after is not None and before is not None:
            raise ValueError("give after or before, not both")
        if not 1 <= limit <= 50:
            raise ValueError("limit must be within 1..50")
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = after
        if before is not None:
            params["before"] = before
        response = await self._api_call(
            "GET", "/me/player/recently-played", access_token, params=params
        )
        return self._parse(RecentlyPlayed, response)

    async def play(
        self,
        access_token: str,
        *,
        device_id: str | None = None,
        context_uri: str | None = None,
        uris: list[str] | None = None,
        offset_position: int | None = None,
        position_ms: int | None = None,
    ) -> None:
        """Resume, or start a context or list of tracks when one is given."""
        body: dict[str, Any] = {}
        if context_uri is not None:
            body["context_uri"] = context_uri
        if uris is not None:
            body["uris"] = uris
        if offset_position is not None:
            body["offset"] = {"position": offset_position}
        if position_ms is not None:
            body["position_ms"] = position_ms
        await self._api_call(
            "PUT", "/me/player/play", access_token, params=_device(device_id), json=body or None
        )

    async def pause(self, access_token: str, *, device_id: str | None = None) -> None:
        await self._api_call("PUT", "/me/player/pause", access_token, params=_device(device_id))

    async def next(self, access_token: str, *, device_id: str | None = None) -> None:
        await self._api_call("POST", "/me/player/next", access_token, params=_device(device_id))

    async def previous(self, access_token: str, *, device_id: str | None = None) -> None:
        await self._api_call("POST", "/me/player/previous", access_token, params=_device(device_id))

    # -- plumbing ------------------------------------------------------------------------

    async def _api_call(
        self,
        method: str,
        path: str,
        access_token: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {access_token}"}
        response = await self._send(
            method, f"{self._api}{path}", params=params, json=json, headers=headers
        )
        if response.status_code >= 400:
            raise web_api_error(response)
        return response

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        # Only the method and path go into messages: bodies and headers hold codes and tokens.
        # httpx's own messages (kept as the cause) name neither.
        try:
            return await self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise TransientSpotifyError(f"timed out: {_where(method, url)}") from exc
        except httpx.TransportError as exc:
            raise TransientSpotifyError(
                f"connection failed ({type(exc).__name__}): {_where(method, url)}"
            ) from exc

    @staticmethod
    def _parse(model: type[ModelT], response: httpx.Response) -> ModelT:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            # The validation error would quote the body, which may hold tokens.
            raise UnexpectedResponse(
                f"{model.__name__} did not parse ({exc.error_count()} errors)",
                status=response.status_code,
            ) from None


def _where(method: str, url: str) -> str:
    """What a failed call was, for messages: the method and path, never the query."""
    return f"{method} {httpx.URL(url).path}"


def _nothing_playing(response: httpx.Response) -> bool:
    # Spotify answers 204 when nothing plays, and has been seen sending 200 with no body.
    return response.status_code == 204 or not response.content.strip()


def _device(device_id: str | None) -> dict[str, str] | None:
    return None if device_id is None else {"device_id": device_id}


__all__ = ["SpotifyClient", "create_http_client"]
