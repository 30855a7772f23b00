"""The async Spotify Web API client: the player endpoints, recently-played and the profile.

One `SpotifyClient` (and one httpx connection pool) serves every user of a process; the
user's access token is an argument of each call. It holds no app secret: the OAuth calls
(code exchange, refresh) are `backbeat.spotify.accounts.SpotifyAccounts`, which only tokens
uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from backbeat.spotify.errors import (
    TransientSpotifyError,
    UnexpectedResponse,
    web_api_error,
)
from backbeat.spotify.models import (
    CurrentlyPlaying,
    PlaybackState,
    RecentlyPlayed,
    UserProfile,
)
from backbeat.spotify.settings import WebApiSettings
from backbeat.spotify.transport import ShardedTransport

ModelT = TypeVar("ModelT", bound=BaseModel)


def create_http_client(settings: WebApiSettings) -> httpx.AsyncClient:
    """The pooled HTTP client to share across the process (and to pass to every client)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.timeout_s),
        transport=ShardedTransport(
            max_connections=settings.max_connections, shard_size=settings.pool_shard_size
        ),
        headers={"Accept": "application/json"},
    )


class PooledClient:
    """A client on an httpx pool: pass `http` to share one (the process's); otherwise one is
    made from `settings` and closed by `aclose()` (or `async with`)."""

    def __init__(self, settings: WebApiSettings, http: httpx.AsyncClient | None = None) -> None:
        self._owns_http = http is None
        self._http = http or create_http_client(settings)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class SpotifyClient(PooledClient):
    """Calls Spotify's Web API."""

    def __init__(self, settings: WebApiSettings, http: httpx.AsyncClient | None = None) -> None:
        super().__init__(settings, http)
        self.settings = settings
        self._api = settings.api_base_url.rstrip("/") + "/v1"

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
        return await send(self._http, method, url, **kwargs)

    @staticmethod
    def _parse(model: type[ModelT], response: httpx.Response) -> ModelT:
        return parse(model, response)


async def send(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request; a timeout or a connection failure is a `TransientSpotifyError`."""
    # Only the method and path go into messages: bodies and headers hold codes and tokens.
    # httpx's own messages (kept as the cause) name neither.
    try:
        return await http.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise TransientSpotifyError(f"timed out: {_where(method, url)}") from exc
    except httpx.TransportError as exc:
        raise TransientSpotifyError(
            f"connection failed ({type(exc).__name__}): {_where(method, url)}"
        ) from exc


def parse(model: type[ModelT], response: httpx.Response) -> ModelT:
    """The body as ``model``; a body that does not fit is an `UnexpectedResponse`."""
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
