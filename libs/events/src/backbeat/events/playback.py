"""Playback events: what a user's player did, as observed by the watcher (topic playback.events)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from backbeat.events.cloudevents import CloudEvent

EVENT_TYPE_PREFIX = "dev.backbeat.playback."
SOURCE_WATCHER = "backbeat/watcher"


class PlaybackEventKind(StrEnum):
    """What changed between two observations of a user's player."""

    TRACK_STARTED = "track_started"
    TRACK_ENDED = "track_ended"
    PAUSED = "paused"
    RESUMED = "resumed"
    SEEKED = "seeked"
    STOPPED = "stopped"
    DEVICE_CHANGED = "device_changed"

    @property
    def event_type(self) -> str:
        return f"{EVENT_TYPE_PREFIX}{self.value}.v1"

    @classmethod
    def from_event_type(cls, event_type: str) -> PlaybackEventKind:
        if (kind := _KIND_BY_EVENT_TYPE.get(event_type)) is not None:
            return kind
        if not (event_type.startswith(EVENT_TYPE_PREFIX) and event_type.endswith(".v1")):
            raise ValueError(f"not a v1 playback event type: {event_type}")
        return cls(event_type[len(EVENT_TYPE_PREFIX) : -len(".v1")])


# Every record's type is looked up here (a consumer's hot path); what is missing is a type
# ``from_event_type`` then explains.
_KIND_BY_EVENT_TYPE = {kind.event_type: kind for kind in PlaybackEventKind}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Artist(_Model):
    id: str
    name: str


class Track(_Model):
    id: str
    uri: str
    name: str
    artists: list[Artist]
    album_id: str | None = None
    album_name: str | None = None
    duration_ms: int = Field(ge=0)


class Device(_Model):
    id: str | None
    name: str
    type: str


class PlaybackContext(_Model):
    """Where the track was started from (album, playlist, artist), when Spotify says."""

    type: str
    uri: str


class PlaybackEventData(_Model):
    """The data of every playback event; ``sequence`` increases by one per user and event."""

    schema_version: Literal[1] = 1
    kind: PlaybackEventKind
    user_id: str
    sequence: int = Field(ge=1)
    track: Track | None
    progress_ms: int | None = Field(default=None, ge=0)
    is_playing: bool
    device: Device | None = None
    context: PlaybackContext | None = None
    # Spotify's own timestamp of the state (ms since the epoch), as it reported it.
    spotify_timestamp_ms: int | None = None
    # Milliseconds of the track heard so far, on track_ended; the play rule is applied to this.
    listened_ms: int | None = Field(default=None, ge=0)
    observed_at: datetime
    # True when the watcher did not see this change happen but recovered it afterwards from
    # Spotify's recently-played list (after a gap in watching the user). A recovered play
    # is a track_started + track_ended pair; observed_at then holds the estimated moment
    # (the start from the end minus the duration, the end from Spotify's played_at), and
    # listened_ms on the track_ended is an estimate bounded by the duration and the gap.
    backfilled: bool = False


PlaybackEvent = CloudEvent[PlaybackEventData]


def playback_event(data: PlaybackEventData, *, event_id: str | None = None) -> PlaybackEvent:
    """The CloudEvent for ``data``; pass ``event_id`` to repeat an event after a crash."""
    fields: dict[str, object] = {
        "source": SOURCE_WATCHER,
        "type": data.kind.event_type,
        "subject": data.user_id,
        "time": data.observed_at,
        "data": data,
    }
    if event_id is not None:
        fields["id"] = event_id
    return PlaybackEvent.model_validate(fields)
