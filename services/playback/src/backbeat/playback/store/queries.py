"""The reads users are served from: now playing, listening history, listening statistics.

Every query takes the user id and reads only that user's rows; the HTTP layer passes the
caller's id from their token.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, column, func, or_, select, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from backbeat.events.playback import Track
from backbeat.playback.domain.listening import UserPlayback
from backbeat.playback.store.rows import state_from_row, track_from_play_row
from backbeat.playback.store.tables import plays, user_playback

MAX_HISTORY_PAGE = 200
# Play ids are PostgreSQL bigints.
MAX_PLAY_ID = 2**63 - 1


class InvalidCursor(ValueError):
    """A history cursor that this service did not hand out."""


@dataclass(frozen=True, slots=True)
class HistoryCursor:
    """Where the next history page starts: after this play, newest first."""

    started_at: datetime
    play_id: int

    def encode(self) -> str:
        raw = f"{self.started_at.isoformat()}|{self.play_id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> HistoryCursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            started, play_id = raw.split("|")
            cursor = cls(datetime.fromisoformat(started), int(play_id))
            # Compared in UTC by the database: a time at the calendar's edge with an offset
            # has no UTC equivalent.
            cursor.started_at.astimezone(UTC)
        except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as exc:
            raise InvalidCursor("not a history cursor") from exc
        # Only what encode() writes: no other spelling of a time or an id ("١٢٣" is 123
        # to int()), nothing trailing.
        if (
            cursor.started_at.utcoffset() is None
            or cursor.encode() != text.rstrip("=")
            or not 0 < cursor.play_id <= MAX_PLAY_ID
        ):
            raise InvalidCursor("not a history cursor")
        return cursor


@dataclass(frozen=True, slots=True)
class PlayRecord:
    """A play in a user's history."""

    play_id: int
    track: Track
    started_at: datetime
    ended_at: datetime
    listened_ms: int
    context_uri: str | None
    device_name: str | None


@dataclass(frozen=True, slots=True)
class HistoryPage:
    items: list[PlayRecord]
    next_cursor: HistoryCursor | None


@dataclass(frozen=True, slots=True)
class TrackCount:
    track: Track
    plays: int
    listened_ms: int


@dataclass(frozen=True, slots=True)
class ArtistCount:
    artist_id: str
    name: str
    plays: int
    listened_ms: int


@dataclass(frozen=True, slots=True)
class ListeningStats:
    """A user's listening over ``[from_, to)``; counted from the plays in the history."""

    from_: datetime | None
    to: datetime | None
    plays: int
    listened_ms: int
    top_tracks: list[TrackCount]
    top_artists: list[ArtistCount]


async def now_playing(session: AsyncSession, user_id: str) -> UserPlayback | None:
    """The user's player as last observed, or None when nothing plays."""
    row = (
        await session.execute(select(user_playback).where(user_playback.c.user_id == user_id))
    ).one_or_none()
    if row is None:
        return None
    state = state_from_row(row)
    return None if state.nothing_playing else state


def _period(from_: datetime | None, to: datetime | None) -> list[Any]:
    """Plays that started in ``[from_, to)``."""
    conditions: list[Any] = []
    if from_ is not None:
        conditions.append(plays.c.started_at >= from_)
    if to is not None:
        conditions.append(plays.c.started_at < to)
    return conditions


async def history(
    session: AsyncSession,
    user_id: str,
    *,
    limit: int = 50,
    cursor: HistoryCursor | None = None,
    from_: datetime | None = None,
    to: datetime | None = None,
) -> HistoryPage:
    """The user's plays, newest first, ``limit`` at a time; pass ``next_cursor`` back for
    the following page."""
    limit = max(1, min(limit, MAX_HISTORY_PAGE))
    query = select(plays).where(plays.c.user_id == user_id, *_period(from_, to))
    if cursor is not None:
        query = query.where(
            or_(
                plays.c.started_at < cursor.started_at,
                and_(plays.c.started_at == cursor.started_at, plays.c.id < cursor.play_id),
            )
        )
    rows = (
        await session.execute(
            query.order_by(plays.c.started_at.desc(), plays.c.id.desc()).limit(limit + 1)
        )
    ).all()
    items = [
        PlayRecord(
            play_id=row.id,
            track=track_from_play_row(row),
            started_at=row.started_at,
            ended_at=row.ended_at,
            listened_ms=row.listened_ms,
            context_uri=row.context_uri,
            device_name=row.device_name,
        )
        for row in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = HistoryCursor(last.started_at, last.play_id)
    return HistoryPage(items, next_cursor)


async def stats(
    session: AsyncSession,
    user_id: str,
    *,
    from_: datetime | None = None,
    to: datetime | None = None,
    top: int = 10,
) -> ListeningStats:
    """Plays, listening time, top tracks and top artists (by plays, then listening time)."""
    in_period = [plays.c.user_id == user_id, *_period(from_, to)]
    totals = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(plays.c.listened_ms), 0)).where(*in_period)
        )
    ).one()

    count = func.count().label("plays")
    listened = func.sum(plays.c.listened_ms).label("listened_ms")
    # The newest play's copy of the track's details stands for the track.
    newest = func.max(plays.c.id).label("newest_id")
    by_track = (
        select(plays.c.track_id, count, listened, newest)
        .where(*in_period)
        .group_by(plays.c.track_id)
        .order_by(count.desc(), listened.desc(), plays.c.track_id)
        .limit(top)
        .subquery()
    )
    track_rows = (
        await session.execute(
            select(plays, by_track.c.plays.label("n"), by_track.c.listened_ms.label("heard"))
            .join(by_track, plays.c.id == by_track.c.newest_id)
            .order_by(by_track.c.plays.desc(), by_track.c.listened_ms.desc(), plays.c.track_id)
        )
    ).all()

    artist = (
        func.jsonb_array_elements(plays.c.artists)
        .table_valued(column("value", JSONB))
        .render_derived(name="artist")
    )
    artist_id = artist.c.value["id"].astext.label("artist_id")
    artist_name = func.max(artist.c.value["name"].astext).label("name")
    artist_plays = func.count().label("plays")
    artist_listened = func.sum(plays.c.listened_ms).label("listened_ms")
    artist_rows = (
        await session.execute(
            # A function over a column of ``plays`` in FROM is implicitly LATERAL in PostgreSQL.
            select(artist_id, artist_name, artist_plays, artist_listened)
            .select_from(plays.join(artist, true()))
            .where(*in_period)
            .group_by(artist_id)
            .order_by(artist_plays.desc(), artist_listened.desc(), artist_id)
            .limit(top)
        )
    ).all()

    return ListeningStats(
        from_=from_,
        to=to,
        plays=totals[0],
        listened_ms=int(totals[1]),
        top_tracks=[
            TrackCount(track_from_play_row(row), plays=row.n, listened_ms=int(row.heard))
            for row in track_rows
        ],
        top_artists=[
            ArtistCount(row.artist_id, row.name, plays=row.plays, listened_ms=int(row.listened_ms))
            for row in artist_rows
        ],
    )
