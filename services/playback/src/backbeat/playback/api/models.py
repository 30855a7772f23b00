"""Response bodies of the playback API (the public shapes of the DESIGN's API table)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from backbeat.events.playback import Device, PlaybackContext, Track
from backbeat.playback.domain.listening import UserPlayback
from backbeat.playback.store.queries import HistoryPage, ListeningStats, PlayRecord


class _Body(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class NowPlaying(_Body):
    """The caller's player as last observed; ``progress_ms`` is moved on to the response's
    time while the track plays."""

    track: Track
    is_playing: bool
    progress_ms: int | None
    device: Device | None
    context: PlaybackContext | None
    observed_at: datetime | None
    sequence: int = Field(description="The last applied event's sequence (the stream's ids)")

    @classmethod
    def of(cls, state: UserPlayback, now: datetime) -> NowPlaying:
        assert state.track is not None
        return cls(
            track=state.track,
            is_playing=state.is_playing,
            progress_ms=state.progress_at(now),
            device=state.device,
            context=state.context,
            observed_at=state.observed_at,
            sequence=state.last_sequence,
        )


class Play(_Body):
    """A play in the history: the track was heard for long enough (see the play rule)."""

    track: Track
    started_at: datetime
    ended_at: datetime
    listened_ms: int
    context_uri: str | None
    device_name: str | None

    @classmethod
    def of(cls, record: PlayRecord) -> Play:
        return cls(
            track=record.track,
            started_at=record.started_at,
            ended_at=record.ended_at,
            listened_ms=record.listened_ms,
            context_uri=record.context_uri,
            device_name=record.device_name,
        )


class History(_Body):
    items: list[Play] = Field(description="Newest first")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")

    @classmethod
    def of(cls, page: HistoryPage) -> History:
        return cls(
            items=[Play.of(item) for item in page.items],
            next_cursor=page.next_cursor.encode() if page.next_cursor else None,
        )


class TrackCount(_Body):
    track: Track
    plays: int
    listened_ms: int


class ArtistCount(_Body):
    id: str
    name: str
    plays: int
    listened_ms: int


class Stats(_Body):
    """Listening over plays that started in ``[from, to)``."""

    from_: datetime | None = Field(alias="from")
    to: datetime | None
    plays: int
    listened_ms: int
    top_tracks: list[TrackCount]
    top_artists: list[ArtistCount]

    @classmethod
    def of(cls, stats: ListeningStats) -> Stats:
        return cls.model_validate(
            {
                "from": stats.from_,
                "to": stats.to,
                "plays": stats.plays,
                "listened_ms": stats.listened_ms,
                "top_tracks": [
                    TrackCount(track=t.track, plays=t.plays, listened_ms=t.listened_ms)
                    for t in stats.top_tracks
                ],
                "top_artists": [
                    ArtistCount(
                        id=a.artist_id, name=a.name, plays=a.plays, listened_ms=a.listened_ms
                    )
                    for a in stats.top_artists
                ],
            }
        )
