"""The playback API under ``/api/playback``: now playing, history, statistics, the live
stream and player control. Every route serves the caller only: the user id comes from the
verified token, never from the request.

No postponed annotations here: FastAPI must see the dependency and parameter types.
"""

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import AfterValidator, AwareDatetime

from backbeat.authn.claims import UserPrincipal
from backbeat.authn.dependencies import AUTH_PROBLEMS, current_user
from backbeat.authn.spotify_access import AccessTokenUnavailable
from backbeat.playback.api.models import History, NowPlaying, Stats
from backbeat.playback.api.refusals import PLAYER_COMMAND_STATUSES, refusal_problem
from backbeat.playback.api.stream import EventStream
from backbeat.playback.domain.listening import UserPlayback
from backbeat.playback.live.hub import LiveHub
from backbeat.playback.service.player_control import PlayerCommand, PlayerControl
from backbeat.playback.settings import PlaybackSettings
from backbeat.playback.store import queries
from backbeat.runtime.database import Database
from backbeat.runtime.http import from_app_state
from backbeat.runtime.problems import ProblemError, problem_responses
from backbeat.spotify.errors import SpotifyError

User = Annotated[UserPrincipal, Depends(current_user)]

MAX_TOP = 50
# Longer than any cursor this service hands out (an ISO time and an id, base64).
MAX_CURSOR_CHARS = 200


def _live_hub(request: Request) -> LiveHub | None:
    # None on an instance that serves no live streams.
    return cast(LiveHub | None, request.app.state.live_hub)


# What the routes need from the app, as typed dependencies in their signatures.
DatabaseDep = Annotated[Database, Depends(from_app_state("database", Database))]
SettingsDep = Annotated[PlaybackSettings, Depends(from_app_state("settings", PlaybackSettings))]
LiveHubDep = Annotated[LiveHub | None, Depends(_live_hub)]
PlayerControlDep = Annotated[
    PlayerControl, Depends(from_app_state("player_control", PlayerControl))
]


def _within_utc(value: datetime) -> datetime:
    # The database compares times in UTC, and Python cannot express 0001-01-01T00:00+14:00
    # or 9999-12-31T23:59-14:00 there.
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is outside the years 1 to 9999 in UTC") from None
    return value


# A time with its offset, as a query parameter: `from` and `to`.
Instant = Annotated[AwareDatetime, AfterValidator(_within_utc)]


def _check_period(from_: datetime | None, to: datetime | None) -> None:
    if from_ is not None and to is not None and from_ >= to:
        raise ProblemError(400, "invalid_period", "`from` must be before `to`")


async def _now_playing(database: Database, user_id: str) -> UserPlayback | None:
    async with database.session() as session:
        return await queries.now_playing(session, user_id)


def _last_event_id(raw: str | None) -> int | None:
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    # ASCII digits only: str.isdigit() also admits "١٢٣" and "²", and int() reads the first.
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise ProblemError(
            400,
            "invalid_last_event_id",
            "Last-Event-ID is not an id of this stream",
            "Ids of this stream are the user's event sequence numbers",
        )
    return int(value)


def playback_router() -> APIRouter:
    router = APIRouter(prefix="/api/playback", tags=["playback"])

    @router.get(
        "/now",
        response_model=NowPlaying,
        responses={204: {"description": "Nothing is playing"}, **AUTH_PROBLEMS},
    )
    async def now(user: User, database: DatabaseDep) -> Response | NowPlaying:
        """What the caller's player is doing, or 204 when nothing plays."""
        state = await _now_playing(database, str(user.user_id))
        if state is None:
            return Response(status_code=204)
        return NowPlaying.of(state, datetime.now(UTC))

    @router.get("/history", responses={**AUTH_PROBLEMS, **problem_responses(400, 422)})
    async def history(
        user: User,
        database: DatabaseDep,
        limit: Annotated[int, Query(ge=1, le=queries.MAX_HISTORY_PAGE)] = 50,
        cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)] = None,
        from_: Annotated[Instant | None, Query(alias="from")] = None,
        to: Annotated[Instant | None, Query()] = None,
    ) -> History:
        """The caller's plays that started in ``[from, to)``, newest first, a page at a time."""
        _check_period(from_, to)
        try:
            position = queries.HistoryCursor.decode(cursor) if cursor else None
        except queries.InvalidCursor:
            raise ProblemError(
                400, "invalid_cursor", "The cursor is not one this API handed out"
            ) from None
        async with database.session() as session:
            page = await queries.history(
                session, str(user.user_id), limit=limit, cursor=position, from_=from_, to=to
            )
        return History.of(page)

    @router.get(
        "/stats",
        response_model_by_alias=True,
        responses={**AUTH_PROBLEMS, **problem_responses(400, 422)},
    )
    async def stats(
        user: User,
        database: DatabaseDep,
        from_: Annotated[Instant | None, Query(alias="from")] = None,
        to: Annotated[Instant | None, Query()] = None,
        top: Annotated[int, Query(ge=1, le=MAX_TOP)] = 10,
    ) -> Stats:
        """Top tracks, top artists and listening time over the plays that started in
        ``[from, to)`` (all of the caller's history when neither is given)."""
        _check_period(from_, to)
        async with database.session() as session:
            result = await queries.stats(session, str(user.user_id), from_=from_, to=to, top=top)
        return Stats.of(result)

    @router.get(
        "/stream",
        status_code=200,
        responses={
            200: {
                "description": (
                    "The caller's playback events as Server-Sent Events: `id` is the event's "
                    "per-user sequence, `event` its kind (`track_started`, `paused`, ...), "
                    "`data` the event as a CloudEvents JSON object. Resuming with "
                    "`Last-Event-ID` replays what was missed; when that is no longer held "
                    "in memory a `now_playing` event sums it up. Comment lines are heartbeats."
                ),
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            **AUTH_PROBLEMS,
            **problem_responses(400),
        },
    )
    async def stream(
        user: User,
        database: DatabaseDep,
        settings: SettingsDep,
        hub: LiveHubDep,
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    ) -> EventStream:
        """The caller's live playback events, until the token expires."""
        last_sequence = _last_event_id(last_event_id)
        if hub is None:
            raise ProblemError(503, "stream_unavailable", "This instance serves no live streams")
        user_id = str(user.user_id)

        async def read_state() -> UserPlayback | None:
            return await _now_playing(database, user_id)

        return EventStream(
            hub,
            user_id,
            last_sequence=last_sequence,
            read_state=read_state,
            heartbeat_s=settings.stream_heartbeat_s,
            retry_ms=settings.stream_retry_ms,
            ends_at=user.expires_at,
            session_id=str(user.session_id),
        )

    for command in PlayerCommand:
        router.add_api_route(
            f"/player/{command.value}",
            _player_endpoint(command),
            methods=["POST"],
            status_code=204,
            response_class=Response,
            name=f"player_{command.value}",
            summary=f"{command.value.capitalize()} on the caller's Spotify player",
            responses={**AUTH_PROBLEMS, **problem_responses(*PLAYER_COMMAND_STATUSES)},
        )
    return router


def _player_endpoint(
    command: PlayerCommand,
) -> Callable[[UserPrincipal, PlayerControl], Coroutine[Any, Any, Response]]:
    async def send_command(user: User, control: PlayerControlDep) -> Response:
        """204 once Spotify accepted the command; otherwise Spotify's refusal as a problem:
        409 `no_active_device`, `spotify_not_connected`, `spotify_needs_reauth` or
        `player_command_rejected`; 403 `premium_required`; 429 `spotify_rate_limited` and
        503 `spotify_unavailable` with Retry-After; 502 `spotify_error`."""
        try:
            await control.send(str(user.user_id), command)
        except (SpotifyError, AccessTokenUnavailable) as refused:
            raise refusal_problem(refused) from None
        return Response(status_code=204)

    return send_command
