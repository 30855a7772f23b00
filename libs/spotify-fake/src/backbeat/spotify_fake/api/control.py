"""The control API under /_control/: set up apps and users, script players, break things,
move the clock, and read what really happened (ground truth) and how often each was called."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.responses import Response

from backbeat.spotify_fake.api.responses import ControlError, JsonResponse
from backbeat.spotify_fake.domain.faults import ENDPOINTS, Fault, FaultKind, RetryAfterFormat
from backbeat.spotify_fake.domain.player import ItemKind, Play, PlayerSnapshot
from backbeat.spotify_fake.domain.script import ScriptAction, ScriptStep
from backbeat.spotify_fake.fake import (
    FakeSpotify,
    FakeUser,
    Product,
    UnknownDevice,
    UnknownItem,
    UnknownUser,
)

router = APIRouter(prefix="/_control")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewClient(_Body):
    redirect_uris: list[str] = Field(min_length=1)
    name: str = "Backbeat"


class NewUser(_Body):
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    display_name: str | None = None
    product: Product = "premium"
    country: str = Field(default="SE", min_length=2, max_length=2)


class PlaybackScript(_Body):
    """What the player should be doing now. No track, episode or ad means nothing plays."""

    track_id: str | None = None
    episode_id: str | None = None
    ad: bool = False
    is_playing: bool = True
    progress_ms: int = Field(default=0, ge=0)
    device_id: str | None = None
    context_uri: str | None = None

    @model_validator(mode="after")
    def _one_item(self) -> PlaybackScript:
        if sum((self.track_id is not None, self.episode_id is not None, self.ad)) > 1:
            raise ValueError("give at most one of track_id, episode_id and ad")
        return self


class ScriptedStep(_Body):
    at_ms: int = Field(ge=0, description="after the script begins (fake-clock time)")
    action: ScriptAction
    track_ids: list[str] = Field(default_factory=list, description="for play, in order")
    position_ms: int = Field(default=0, ge=0, description="for play and seek")
    repeat: Literal["off", "track", "context"] = "off"
    device_index: int = Field(default=0, ge=0, description="for transfer: which device")

    @model_validator(mode="after")
    def _tracks_to_play(self) -> ScriptedStep:
        if self.action == "play" and not self.track_ids:
            raise ValueError("play needs track_ids")
        return self


class Script(_Body):
    """What the listener does from now on, step by step; replaces any simulation."""

    steps: list[ScriptedStep] = Field(max_length=10_000)


class Revocation(_Body):
    client_id: str | None = None


class NewFault(_Body):
    endpoint: str = Field(description=f"one of {sorted(ENDPOINTS)}")
    kind: FaultKind
    status: int = Field(default=503, ge=500, le=599, description="for server_error")
    retry_after_s: int = Field(default=1, ge=0, description="for rate_limit")
    retry_after_format: RetryAfterFormat = "seconds"
    latency_ms: int = Field(default=0, ge=0, le=120_000, description="for latency")
    count: int | None = Field(default=None, ge=1, description="calls it affects, then it ends")
    duration_ms: int | None = Field(default=None, ge=1, description="fake-clock time it lasts")

    @model_validator(mode="after")
    def _known_endpoint(self) -> NewFault:
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {sorted(ENDPOINTS)}")
        return self


class ClockAdvance(_Body):
    ms: int = Field(ge=0)


class SimulationChange(_Body):
    action: Literal["start", "stop"]
    count: int = Field(default=0, ge=0, le=100_000)
    user_ids: list[str] | None = None


def _fake(request: Request) -> FakeSpotify:
    fake: FakeSpotify = request.app.state.fake
    return fake


def _user(fake: FakeSpotify, user_id: str) -> FakeUser:
    try:
        return fake.user(user_id)
    except UnknownUser:
        raise ControlError(404, "unknown_user", f"No user {user_id}") from None


def _player_json(snapshot: PlayerSnapshot | None) -> dict[str, Any] | None:
    if snapshot is None:
        return None
    return {
        "item_type": snapshot.kind,
        "item_id": snapshot.item_id,
        "is_playing": snapshot.is_playing,
        "progress_ms": snapshot.progress_ms,
        "timestamp": snapshot.timestamp_ms,
        "device_id": snapshot.device.id,
        "context_uri": snapshot.context_uri,
        "repeat_state": snapshot.repeat_state,
        "shuffle_state": snapshot.shuffle_state,
    }


def _play_json(play: Play) -> dict[str, Any]:
    return {
        "item_id": play.item_id,
        "item_type": play.item_type,
        "started_at_ms": play.started_at_ms,
        "ended_at_ms": play.ended_at_ms,
        "listened_ms": play.listened_ms,
        "duration_ms": play.duration_ms,
        "context_uri": play.context_uri,
        "device_id": play.device_id,
        "end_reason": play.end_reason,
    }


def _fault_json(fault: Fault) -> dict[str, Any]:
    return {
        "id": fault.id,
        "endpoint": fault.endpoint,
        "kind": fault.kind,
        "status": fault.status,
        "retry_after_s": fault.retry_after_s,
        "retry_after_format": fault.retry_after_format,
        "latency_ms": fault.latency_ms,
        "remaining": fault.remaining,
        "expires_at_ms": fault.expires_at_ms,
    }


@router.get("/ping")
async def ping() -> Response:
    return JsonResponse({"pong": True})


@router.post("/clients", status_code=201)
async def create_client(request: Request, body: NewClient) -> Response:
    app = _fake(request).accounts.register_app(tuple(body.redirect_uris), body.name)
    return JsonResponse(
        {
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "redirect_uris": list(app.redirect_uris),
        },
        status_code=201,
    )


@router.post("/users", status_code=201)
async def create_user(request: Request, body: NewUser) -> Response:
    try:
        user = _fake(request).create_user(
            user_id=body.id,
            display_name=body.display_name,
            product=body.product,
            country=body.country,
        )
    except ValueError:
        raise ControlError(409, "user_exists", f"User {body.id} already exists") from None
    return JsonResponse(
        {"id": user.id, "display_name": user.display_name, "product": user.product},
        status_code=201,
    )


@router.get("/users")
async def list_users(request: Request) -> Response:
    fake = _fake(request)
    return JsonResponse(
        {
            "users": [
                {
                    "id": user.id,
                    "display_name": user.display_name,
                    "product": user.product,
                    "simulated": user.listener is not None,
                }
                for user in fake.users.values()
            ]
        }
    )


@router.get("/users/{user_id}")
async def get_user(request: Request, user_id: str) -> Response:
    fake = _fake(request)
    user = _user(fake, user_id)
    snapshot = fake.snapshot(user_id)
    return JsonResponse(
        {
            "id": user.id,
            "display_name": user.display_name,
            "product": user.product,
            "country": user.country,
            "simulated": user.listener is not None,
            "devices": [
                {"id": device.id, "name": device.name, "type": device.type}
                for device in user.player.devices
            ],
            "now_ms": fake.now_ms(),
            "player": _player_json(snapshot),
        }
    )


@router.put("/users/{user_id}/playback")
async def set_playback(request: Request, user_id: str, body: PlaybackScript) -> Response:
    fake = _fake(request)
    _user(fake, user_id)
    kind: ItemKind = "track"
    item_id = body.track_id
    if body.ad:
        kind, item_id = "ad", None
    elif body.episode_id is not None:
        kind, item_id = "episode", body.episode_id
    try:
        snapshot = fake.set_playback(
            user_id,
            item_id=item_id,
            kind=kind,
            is_playing=body.is_playing,
            progress_ms=body.progress_ms,
            device_id=body.device_id,
            context_uri=body.context_uri,
        )
    except UnknownItem:
        raise ControlError(404, "unknown_item", f"No track or episode {item_id}") from None
    except UnknownDevice:
        raise ControlError(404, "unknown_device", f"No device {body.device_id}") from None
    return JsonResponse({"player": _player_json(snapshot)})


@router.put("/users/{user_id}/script")
async def set_script(request: Request, user_id: str, body: Script) -> Response:
    fake = _fake(request)
    _user(fake, user_id)
    steps = [
        ScriptStep(
            at_ms=step.at_ms,
            action=step.action,
            track_ids=tuple(step.track_ids),
            position_ms=step.position_ms,
            repeat=step.repeat,
            device_index=step.device_index,
        )
        for step in body.steps
    ]
    try:
        starts_at = fake.script(user_id, steps)
    except UnknownItem as unknown:
        raise ControlError(404, "unknown_item", f"No track {unknown.args[0]}") from None
    return JsonResponse(
        {
            "steps": len(steps),
            "starts_at_ms": starts_at,
            "player": _player_json(fake.snapshot(user_id)),
        }
    )


@router.post("/users/{user_id}/revoke")
async def revoke(request: Request, user_id: str, body: Revocation | None = None) -> Response:
    fake = _fake(request)
    _user(fake, user_id)
    revoked = fake.revoke(user_id, body.client_id if body else None)
    return JsonResponse({"revoked_grants": revoked})


@router.get("/users/{user_id}/ground-truth")
async def ground_truth(request: Request, user_id: str) -> Response:
    fake = _fake(request)
    _user(fake, user_id)
    plays = fake.ground_truth(user_id)
    return JsonResponse(
        {"user_id": user_id, "now_ms": fake.now_ms(), "plays": [_play_json(p) for p in plays]}
    )


@router.get("/catalog")
async def catalog(
    request: Request,
    limit: int = Query(default=50, ge=1, le=10_000),
    offset: int = Query(default=0, ge=0),
    type: Literal["track", "episode"] = "track",
) -> Response:
    fake = _fake(request)
    cat = fake.catalogue
    if type == "episode":
        episodes = list(cat.episodes.values())
        items: list[dict[str, Any]] = [
            {
                "id": e.id,
                "uri": e.uri,
                "name": e.name,
                "duration_ms": e.duration_ms,
                "show": cat.shows[e.show_id].name,
                "show_uri": cat.shows[e.show_id].uri,
            }
            for e in episodes[offset : offset + limit]
        ]
        total = len(episodes)
    else:
        tracks = list(cat.tracks.values())
        items = [
            {
                "id": t.id,
                "uri": t.uri,
                "name": t.name,
                "duration_ms": t.duration_ms,
                "artists": [cat.artists[a].name for a in t.artist_ids],
                "album": cat.albums[t.album_id].name,
                "album_uri": cat.albums[t.album_id].uri,
            }
            for t in tracks[offset : offset + limit]
        ]
        total = len(tracks)
    return JsonResponse({"items": items, "total": total, "limit": limit, "offset": offset})


@router.post("/faults", status_code=201)
async def add_fault(request: Request, body: NewFault) -> Response:
    fake = _fake(request)
    fault = fake.faults.add(
        Fault(
            id=0,
            endpoint=body.endpoint,
            kind=body.kind,
            status=body.status,
            retry_after_s=body.retry_after_s,
            retry_after_format=body.retry_after_format,
            latency_ms=body.latency_ms,
            remaining=body.count,
            expires_at_ms=None if body.duration_ms is None else fake.now_ms() + body.duration_ms,
        )
    )
    return JsonResponse(_fault_json(fault), status_code=201)


@router.get("/faults")
async def list_faults(request: Request) -> Response:
    fake = _fake(request)
    return JsonResponse({"faults": [_fault_json(f) for f in fake.faults.active(fake.now_ms())]})


@router.delete("/faults")
async def clear_faults(request: Request) -> Response:
    return JsonResponse({"cleared": _fake(request).faults.clear()})


@router.delete("/faults/{fault_id}")
async def clear_fault(request: Request, fault_id: int) -> Response:
    cleared = _fake(request).faults.clear(fault_id)
    if not cleared:
        raise ControlError(404, "unknown_fault", f"No fault {fault_id}")
    return JsonResponse({"cleared": cleared})


@router.get("/clock")
async def get_clock(request: Request) -> Response:
    fake = _fake(request)
    return JsonResponse({"now_ms": fake.now_ms(), "mode": fake.config.clock})


@router.post("/clock/advance")
async def advance_clock(request: Request, body: ClockAdvance) -> Response:
    return JsonResponse({"now_ms": _fake(request).advance_clock(body.ms)})


@router.get("/stats")
async def stats(request: Request) -> Response:
    counts = _fake(request).counts
    return JsonResponse(
        {
            "web_api_calls": {
                "by_client": dict(counts.by_client),
                "by_user": dict(counts.by_user),
                "by_endpoint": dict(counts.by_endpoint),
            },
            "token_calls_by_client": dict(counts.token_calls_by_client),
            "rate_limited_by_client": dict(counts.rate_limited_by_client),
        }
    )


@router.get("/simulation")
async def simulation_status(request: Request) -> Response:
    return JsonResponse({"simulated_user_ids": _fake(request).simulated_user_ids()})


@router.post("/simulation")
async def change_simulation(request: Request, body: SimulationChange) -> Response:
    fake = _fake(request)
    try:
        if body.action == "start":
            changed = fake.start_simulation(count=body.count, user_ids=body.user_ids or ())
        else:
            changed = fake.stop_simulation(body.user_ids)
    except UnknownUser as unknown:
        raise ControlError(404, "unknown_user", f"No user {unknown.args[0]}") from None
    return JsonResponse(
        {"changed_user_ids": changed, "simulated_user_ids": fake.simulated_user_ids()}
    )
