"""Conversions between domain values and table rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row

from backbeat.events.playback import Device, PlaybackContext, Track
from backbeat.playback.domain.listening import CompletedPlay, OpenPlay, UserPlayback
from backbeat.playback.store.columnar import json_value


def state_from_row(row: Row[Any]) -> UserPlayback:
    play = None
    if row.play_started_at is not None:
        play = OpenPlay(
            started_at=row.play_started_at,
            listened_ms=row.play_listened_ms or 0,
            segment_started_at=row.segment_started_at,
            segment_start_progress_ms=row.segment_start_progress_ms,
        )
    return UserPlayback(
        user_id=row.user_id,
        last_sequence=row.last_sequence,
        track=Track.model_validate(row.track) if row.track is not None else None,
        is_playing=row.is_playing,
        progress_ms=row.progress_ms,
        device=Device.model_validate(row.device) if row.device is not None else None,
        context=PlaybackContext.model_validate(row.context) if row.context is not None else None,
        observed_at=row.observed_at,
        play=play,
    )


def state_to_row(state: UserPlayback, now: datetime) -> dict[str, Any]:
    play = state.play
    return {
        "user_id": state.user_id,
        "last_sequence": state.last_sequence,
        # JSON straight from the models (in pydantic's core), not dicts encoded again.
        "track": json_value(state.track.model_dump_json()) if state.track else None,
        "is_playing": state.is_playing,
        "progress_ms": state.progress_ms,
        "device": json_value(state.device.model_dump_json()) if state.device else None,
        "context": json_value(state.context.model_dump_json()) if state.context else None,
        "observed_at": state.observed_at,
        "play_started_at": play.started_at if play else None,
        "play_listened_ms": play.listened_ms if play else None,
        "segment_started_at": play.segment_started_at if play else None,
        "segment_start_progress_ms": play.segment_start_progress_ms if play else None,
        "updated_at": now,
    }


def play_to_row(play: CompletedPlay) -> dict[str, Any]:
    track = play.track
    return {
        "user_id": play.user_id,
        "track_id": track.id,
        "track_uri": track.uri,
        "track_name": track.name,
        "artists": json_value(f"[{','.join(a.model_dump_json() for a in track.artists)}]"),
        "album_id": track.album_id,
        "album_name": track.album_name,
        "duration_ms": track.duration_ms,
        "listened_ms": play.listened_ms,
        "started_at": play.started_at,
        "ended_at": play.ended_at,
        "context_uri": play.context_uri,
        "device_name": play.device_name,
        "end_sequence": play.end_sequence,
    }


def track_from_play_row(row: Row[Any]) -> Track:
    return Track.model_validate(
        {
            "id": row.track_id,
            "uri": row.track_uri,
            "name": row.track_name,
            "artists": row.artists,
            "album_id": row.album_id,
            "album_name": row.album_name,
            "duration_ms": row.duration_ms,
        }
    )
