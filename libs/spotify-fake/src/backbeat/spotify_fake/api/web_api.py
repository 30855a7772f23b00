"""Spotify Web API routes: /v1/me, the player reads, and play / pause / next / previous."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from backbeat.spotify_fake.api.responses import JsonResponse, WebApiError
from backbeat.spotify_fake.api.shapes import SpotifyShapes
from backbeat.spotify_fake.domain.accounts import AccessToken, AccessTokenRejected
from backbeat.spotify_fake.domain.player import Device, PlayerCommandError
from backbeat.spotify_fake.fake import FakeSpotify, FakeUser, UnknownDevice

router = APIRouter()

_NO_CONTENT = 204
_MODIFY = "user-modify-playback-state"


def _fake(request: Request) -> FakeSpotify:
    fake: FakeSpotify = request.app.state.fake
    return fake


def _shapes(request: Request) -> SpotifyShapes:
    shapes: SpotifyShapes = request.app.state.shapes
    return shapes


def _authorize(
    request: Request, endpoint: str, any_of_scopes: frozenset[str] = frozenset()
) -> tuple[FakeUser, AccessToken]:
    """Bearer token, then the app's rate budget, then scopes: the order Spotify applies."""
    fake = _fake(request)
    header = request.headers.get("authorization")
    if not header:
        raise WebApiError(401, "No token provided")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise WebApiError(400, "Only valid bearer authentication supported")
    now = fake.now_ms()
    try:
        access = fake.accounts.authenticate_bearer(token.strip(), now)
    except AccessTokenRejected as rejected:
        raise WebApiError(401, rejected.message) from None
    retry_after_s = fake.rate_limit.admit(access.client_id, now)
    if retry_after_s is not None:
        fake.counts.rate_limited_by_client[access.client_id] += 1
        raise WebApiError(
            429, "API rate limit exceeded", headers={"Retry-After": str(retry_after_s)}
        )
    counts = fake.counts
    counts.by_client[access.client_id] += 1
    counts.by_user[access.user_id] += 1
    counts.by_endpoint[endpoint] += 1
    if any_of_scopes and not any_of_scopes & access.scopes:
        if _MODIFY in any_of_scopes:
            raise WebApiError(403, "Insufficient client scope")
        raise WebApiError(401, "Permissions missing")
    return fake.user(access.user_id), access


def _additional_types(request: Request) -> set[str]:
    return set(request.query_params.get("additional_types", "track").split(","))


@router.get("/v1/me")
async def get_current_user(request: Request) -> Response:
    user, access = _authorize(request, "me")
    return JsonResponse(_shapes(request).private_user(user, access.scopes))


@router.get("/v1/me/player")
async def get_playback_state(request: Request) -> Response:
    user, _ = _authorize(request, "player", frozenset({"user-read-playback-state"}))
    snapshot = _fake(request).snapshot(user.id)
    if snapshot is None:
        return Response(status_code=_NO_CONTENT)
    return JsonResponse(_shapes(request).playback_state(snapshot, _additional_types(request)))


@router.get("/v1/me/player/currently-playing")
async def get_currently_playing(request: Request) -> Response:
    user, _ = _authorize(
        request,
        "currently_playing",
        frozenset({"user-read-currently-playing", "user-read-playback-state"}),
    )
    snapshot = _fake(request).snapshot(user.id)
    if snapshot is None:
        return Response(status_code=_NO_CONTENT)
    return JsonResponse(_shapes(request).currently_playing(snapshot, _additional_types(request)))


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise WebApiError(400, f"Invalid {name}") from None


@router.get("/v1/me/player/recently-played")
async def get_recently_played(request: Request) -> Response:
    user, _ = _authorize(request, "recently_played", frozenset({"user-read-recently-played"}))
    limit = _int_param(request, "limit") or 20
    after = _int_param(request, "after")
    before = _int_param(request, "before")
    if not 1 <= limit <= 50:
        raise WebApiError(400, "Invalid limit")
    if after is not None and before is not None:
        raise WebApiError(400, "Only one of after and before may be specified")
    plays = _fake(request).recently_played(user.id)  # oldest first
    if after is not None:
        # The oldest `limit` plays after the cursor, so paging forward never skips one.
        newer = [
            play for play in plays if play.ended_at_ms is not None and play.ended_at_ms > after
        ]
        page = newer[:limit]
        more = len(newer) > limit
    else:
        older = [
            play
            for play in plays
            if before is None or (play.ended_at_ms is not None and play.ended_at_ms < before)
        ]
        page = older[-limit:]
        more = len(older) > limit
    page.reverse()  # Spotify lists the newest first.
    shapes = _shapes(request)
    base = str(request.url.replace(query=""))
    query: dict[str, int] = {"limit": limit}
    if after is not None:
        query["after"] = after
    if before is not None:
        query["before"] = before
    cursors: dict[str, str] | None = None
    next_url: str | None = None
    if page:
        newest, oldest = page[0].ended_at_ms, page[-1].ended_at_ms
        cursors = {"after": str(newest), "before": str(oldest)}
        if more:
            step = {"after": newest} if after is not None else {"before": oldest}
            next_url = f"{base}?{urlencode({'limit': limit, **step})}"
    return JsonResponse(
        {
            "items": [shapes.play_history(play) for play in page],
            "next": next_url,
            "cursors": cursors,
            "limit": limit,
            "href": f"{base}?{urlencode(query)}",
        }
    )


# -- player commands ------------------------------------------------------------------------


def _command_target(request: Request, endpoint: str) -> tuple[FakeUser, Device | None]:
    user, _ = _authorize(request, endpoint, frozenset({_MODIFY}))
    if user.product != "premium":
        raise WebApiError(403, "Player command failed: Premium required", reason="PREMIUM_REQUIRED")
    device_id = request.query_params.get("device_id")
    if device_id is None:
        return user, None
    try:
        return user, user.device(device_id)
    except UnknownDevice:
        raise WebApiError(404, "Device not found") from None


def _refused(error: PlayerCommandError) -> WebApiError:
    return WebApiError(error.status, error.message, reason=error.reason)


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise WebApiError(400, "Malformed json") from None
    if not isinstance(body, dict):
        raise WebApiError(400, "Malformed json")
    return body


@router.put("/v1/me/player/play")
async def start_playback(request: Request) -> Response:
    user, device = _command_target(request, "play")
    body = await _json_body(request)
    fake = _fake(request)
    player, now = fake.player_now(user)
    try:
        if "context_uri" in body or "uris" in body:
            target = device or player.device
            if target is None:
                raise PlayerCommandError(
                    404, "NO_ACTIVE_DEVICE", "Player command failed: No active device found"
                )
            _start_new_context(fake, user, body, target, now)
        else:
            if player.device is None and device is None:
                raise PlayerCommandError(
                    404, "NO_ACTIVE_DEVICE", "Player command failed: No active device found"
                )
            player.resume(now, device)
    except PlayerCommandError as error:
        raise _refused(error) from None
    return Response(status_code=_NO_CONTENT)


def _start_new_context(
    fake: FakeSpotify, user: FakeUser, body: dict[str, Any], device: Device, now: int
) -> None:
    catalogue = fake.catalogue
    position_ms = body.get("position_ms", 0)
    offset = body.get("offset") or {}
    if not isinstance(position_ms, int) or position_ms < 0 or not isinstance(offset, dict):
        raise WebApiError(400, "Malformed json")
    if "uris" in body:
        uris = body["uris"]
        if not isinstance(uris, list) or not uris:
            raise WebApiError(400, "Malformed json")
        queue = []
        for uri in uris:
            track_id = str(uri).removeprefix("spotify:track:")
            if track_id not in catalogue.tracks:
                raise WebApiError(400, "Invalid track uri")
            queue.append(track_id)
        context_uri = None
    else:
        context_uri = str(body["context_uri"])
        try:
            queue = list(catalogue.context_track_ids(context_uri))
        except KeyError:
            raise WebApiError(400, "Invalid context uri") from None
    index = offset.get("position", 0)
    if "uri" in offset:
        track_id = str(offset["uri"]).removeprefix("spotify:track:")
        if track_id not in queue:
            raise WebApiError(400, "Invalid offset uri")
        index = queue.index(track_id)
    if not isinstance(index, int) or not 0 <= index < len(queue):
        raise WebApiError(400, "Invalid offset")
    user.player.play_context(
        now, context_uri, queue=tuple(queue), index=index, position_ms=position_ms, device=device
    )


@router.put("/v1/me/player/pause")
async def pause_playback(request: Request) -> Response:
    user, device = _command_target(request, "pause")
    player, now = _fake(request).player_now(user)
    try:
        if device is not None and player.device is not None and device != player.device:
            player.transfer(now, device)
        player.pause(now)
    except PlayerCommandError as error:
        raise _refused(error) from None
    return Response(status_code=_NO_CONTENT)


@router.post("/v1/me/player/next")
async def skip_to_next(request: Request) -> Response:
    user, _ = _command_target(request, "next")
    player, now = _fake(request).player_now(user)
    try:
        player.skip_next(now)
    except PlayerCommandError as error:
        raise _refused(error) from None
    return Response(status_code=_NO_CONTENT)


@router.post("/v1/me/player/previous")
async def skip_to_previous(request: Request) -> Response:
    user, _ = _command_target(request, "previous")
    player, now = _fake(request).player_now(user)
    try:
        player.skip_previous(now)
    except PlayerCommandError as error:
        raise _refused(error) from None
    return Response(status_code=_NO_CONTENT)
