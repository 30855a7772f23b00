"""Builders of snapshots and tracks for the watcher's unit tests."""

from __future__ import annotations

from backbeat.events.playback import Artist, Device, PlaybackContext, Track
from backbeat.watcher.domain.snapshot import PlaybackSnapshot

T0 = 1_767_600_000_000
LAPTOP = Device(id="laptop", name="Laptop", type="Computer")
PHONE = Device(id="phone", name="Phone", type="Smartphone")
ALBUM = PlaybackContext(type="album", uri="spotify:album:a1")


def track(n: int, duration_ms: int = 200_000) -> Track:
    return Track(
        id=f"t{n}",
        uri=f"spotify:track:t{n}",
        name=f"Track {n}",
        artists=[Artist(id="ar1", name="Artist")],
        duration_ms=duration_ms,
    )


def playing(
    at_s: float,
    track_: Track,
    progress_s: float,
    *,
    is_playing: bool = True,
    device: Device = LAPTOP,
    changed_at_s: float | None = None,
) -> PlaybackSnapshot:
    """The player at T0 + ``at_s``; Spotify's timestamp is the last state change (by default
    when the track would have started from 0:00)."""
    at_ms = T0 + int(at_s * 1000)
    progress_ms = int(progress_s * 1000)
    if changed_at_s is None:
        changed_ms = at_ms - progress_ms if is_playing else at_ms
    else:
        changed_ms = T0 + int(changed_at_s * 1000)
    return PlaybackSnapshot(
        observed_at_ms=at_ms,
        active=True,
        track=track_,
        is_playing=is_playing,
        progress_ms=progress_ms,
        device=device,
        context=ALBUM,
        spotify_timestamp_ms=changed_ms,
    )


def nothing(at_s: float) -> PlaybackSnapshot:
    return PlaybackSnapshot.nothing_playing(T0 + int(at_s * 1000))
