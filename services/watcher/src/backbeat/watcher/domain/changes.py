"""Change detection: what happened to a player between two observations of it.

`detect_changes` compares the previous snapshot with the current one and names the changes,
in the order they are published:

- another track (or the first one) became current: ``track_ended`` for the one before, if it
  had been heard, then ``track_started`` for the new one unless it is merely cued (paused at
  0:00, as Spotify parks a finished album) — that one starts when it first plays;
- the same track parked at 0:00 after its play ran out (the last track of an album) ends that
  play and starts nothing;
- the same track again from the start is a new play (``track_ended`` + ``track_started``):
  either it ran past its end and came round again (repeat-one), or its position jumped back
  to the start and Spotify's timestamp says the state changed with the position at zero
  (a restart, not a seek landing near the start);
- otherwise, on the same play: ``device_changed``, then ``seeked`` when the position is
  outside what playing or pausing in between can explain, then ``paused`` / ``resumed``;
- the player went away: ``track_ended`` for a heard track, then ``stopped``.
"""

from __future__ import annotations

from dataclasses import dataclass

from backbeat.events.playback import PlaybackEventKind, Track
from backbeat.watcher.domain.snapshot import PlaybackSnapshot

# Positions Spotify reports drift from the wall clock by up to about a second between polls
# (rounding, network time); more than this unexplained movement is a seek.
SEEK_TOLERANCE_MS = 2_500
# A restart leaves the position at zero at Spotify's state-change timestamp; a seek that lands
# within this of zero cannot be told from a restart and counts as one.
RESTART_TOLERANCE_MS = 1_500


@dataclass(frozen=True, slots=True)
class PlaybackChange:
    """One change; ``track`` is the track it is about (the old one on ``track_ended``)."""

    kind: PlaybackEventKind
    track: Track | None


def _same_track(previous: PlaybackSnapshot, current: PlaybackSnapshot) -> bool:
    return (
        previous.track is not None
        and current.track is not None
        and previous.track.uri == current.track.uri
    )


def _heard(snapshot: PlaybackSnapshot) -> bool:
    return snapshot.track is not None and not snapshot.cued


def _elapsed_ms(previous: PlaybackSnapshot, current: PlaybackSnapshot) -> int:
    return max(0, current.observed_at_ms - previous.observed_at_ms)


def started_from_zero(current: PlaybackSnapshot) -> bool:
    """Spotify's timestamp marks the last state change; a play that began there from 0:00
    has progressed exactly the time since it (when playing)."""
    if current.spotify_timestamp_ms is None:
        return True
    since_change = max(0, current.observed_at_ms - current.spotify_timestamp_ms)
    at_change = current.progress - (since_change if current.is_playing else 0)
    return abs(at_change) <= RESTART_TOLERANCE_MS


def is_new_play_of_same_track(previous: PlaybackSnapshot, current: PlaybackSnapshot) -> bool:
    """The same track is current again, but as a new play (repeat-one or a restart)."""
    if not (_same_track(previous, current) and _heard(previous) and _heard(current)):
        return False
    assert previous.track is not None
    elapsed = _elapsed_ms(previous, current)
    duration = previous.track.duration_ms
    expected = previous.progress + (elapsed if previous.is_playing else 0)
    if previous.is_playing and expected >= duration - SEEK_TOLERANCE_MS:
        # It ran to its end in between: being near the start again means it came round.
        wrapped = max(0, expected - duration)
        if current.progress <= wrapped + SEEK_TOLERANCE_MS:
            return True
    jumped_back = expected - current.progress > SEEK_TOLERANCE_MS
    near_start = current.progress <= (elapsed if current.is_playing else 0) + SEEK_TOLERANCE_MS
    return jumped_back and near_start and started_from_zero(current)


def finished_and_parked(previous: PlaybackSnapshot, current: PlaybackSnapshot) -> bool:
    """The play ran out and Spotify parked the same track at 0:00, paused (the end of an album
    or playlist whose last track it was): the play ended, nothing new started."""
    if not (_same_track(previous, current) and _heard(previous) and current.cued):
        return False
    assert previous.track is not None
    expected = previous.progress + _elapsed_ms(previous, current)
    return previous.is_playing and expected >= previous.track.duration_ms - SEEK_TOLERANCE_MS


def _seeked(previous: PlaybackSnapshot, current: PlaybackSnapshot) -> bool:
    """The position is outside what the time between the observations explains."""
    elapsed = _elapsed_ms(previous, current)
    # Playing throughout moves the position by the elapsed time; pausing or resuming at an
    # unseen moment in between moves it by anything from zero to that.
    least = previous.progress + (elapsed if previous.is_playing and current.is_playing else 0)
    most = previous.progress + (elapsed if previous.is_playing or current.is_playing else 0)
    if current.track is not None and previous.is_playing:
        # A track that reached its end stops there (repeat-one is handled before this).
        least = min(least, current.track.duration_ms)
    return not (least - SEEK_TOLERANCE_MS <= current.progress <= most + SEEK_TOLERANCE_MS)


def detect_changes(
    previous: PlaybackSnapshot | None, current: PlaybackSnapshot
) -> list[PlaybackChange]:
    """The changes from ``previous`` (None: never observed) to ``current``, in order."""
    changes: list[PlaybackChange] = []
    if previous is None or not previous.active:
        if current.active and _heard(current):
            changes.append(PlaybackChange(PlaybackEventKind.TRACK_STARTED, current.track))
        return changes

    if not current.active:
        if _heard(previous):
            changes.append(PlaybackChange(PlaybackEventKind.TRACK_ENDED, previous.track))
        changes.append(PlaybackChange(PlaybackEventKind.STOPPED, None))
        return changes

    if not _same_track(previous, current) or is_new_play_of_same_track(previous, current):
        if _heard(previous):
            changes.append(PlaybackChange(PlaybackEventKind.TRACK_ENDED, previous.track))
        if _heard(current):
            changes.append(PlaybackChange(PlaybackEventKind.TRACK_STARTED, current.track))
        return changes

    if finished_and_parked(previous, current):
        changes.append(PlaybackChange(PlaybackEventKind.TRACK_ENDED, previous.track))
        return changes
    if previous.cued and _heard(current):
        # The parked track began to play: its play starts now.
        changes.append(PlaybackChange(PlaybackEventKind.TRACK_STARTED, current.track))
        return changes
    if _device_id(previous) != _device_id(current):
        changes.append(PlaybackChange(PlaybackEventKind.DEVICE_CHANGED, current.track))
    if not (previous.cued and current.cued) and _seeked(previous, current):
        changes.append(PlaybackChange(PlaybackEventKind.SEEKED, current.track))
    if previous.is_playing and not current.is_playing:
        changes.append(PlaybackChange(PlaybackEventKind.PAUSED, current.track))
    elif not previous.is_playing and current.is_playing:
        changes.append(PlaybackChange(PlaybackEventKind.RESUMED, current.track))
    return changes


def _device_id(snapshot: PlaybackSnapshot) -> str | None:
    if snapshot.device is None:
        return None
    return snapshot.device.id or snapshot.device.name
