"""A user's listening state and how one playback event changes it: now playing, and the plays
that an event completes.

How listening is measured (the input of ``PlayRule``): while the player plays, a *segment* runs
from the event that started playback (track started playing, resumed, seeked) to the event that
interrupted it (paused, seeked, track ended, stopped, another track). A segment's length is the
progress the player made across it when both ends report a position and the two agree with the
time between them; otherwise it is the time between the two observations, capped at what was
left of the track. So paused time never counts, and a seek forward closes the segment at the
moment of the seek and starts a new one at the new position: the skipped-over part is not
counted. When ``track_ended`` carries the watcher's own ``listened_ms`` (it polls more often
than events are emitted), that figure wins for the track it names.

Every ``track_started`` begins a new play, so a repeated track is a new play.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from backbeat.events.playback import (
    Device,
    PlaybackContext,
    PlaybackEventData,
    PlaybackEventKind,
    Track,
)
from backbeat.playback.domain.play_rule import PlayRule

# Observations lag the player by up to one poll, so a progress delta may exceed the time
# between the two observations by about that much and still be the truth.
PROGRESS_TOLERANCE_MS = 3_000

_NEEDS_TRACK = frozenset({PlaybackEventKind.TRACK_STARTED, PlaybackEventKind.TRACK_ENDED})


class InvalidEvent(ValueError):
    """An event that parses but cannot be applied as it stands; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def validate_event(event: PlaybackEventData) -> None:
    """Raise ``InvalidEvent`` for an event the projection cannot apply."""
    if event.kind in _NEEDS_TRACK and event.track is None:
        raise InvalidEvent(f"{event.kind.value} without a track")
    if event.observed_at.utcoffset() is None:
        raise InvalidEvent("observed_at has no time zone")


@dataclass(frozen=True, slots=True)
class OpenPlay:
    """The play of the current track, still running."""

    started_at: datetime
    listened_ms: int = 0
    """Audio heard in the segments already closed."""
    segment_started_at: datetime | None = None
    """When the running segment began; None while paused."""
    segment_start_progress_ms: int | None = None


@dataclass(frozen=True, slots=True)
class UserPlayback:
    """What a user's player is doing, as far as the applied events tell."""

    user_id: str
    last_sequence: int = 0
    track: Track | None = None
    is_playing: bool = False
    progress_ms: int | None = None
    device: Device | None = None
    context: PlaybackContext | None = None
    observed_at: datetime | None = None
    play: OpenPlay | None = None

    @property
    def nothing_playing(self) -> bool:
        return self.track is None

    def progress_at(self, now: datetime) -> int | None:
        """The track position at ``now``, moving on from the last observation while playing."""
        if self.progress_ms is None or self.observed_at is None or not self.is_playing:
            return self.progress_ms
        moved = self.progress_ms + max(0, _ms_between(self.observed_at, now))
        if self.track is not None and self.track.duration_ms > 0:
            return min(moved, self.track.duration_ms)
        return moved


@dataclass(frozen=True, slots=True)
class CompletedPlay:
    """A play for the history: the rule counted it."""

    user_id: str
    track: Track
    started_at: datetime
    ended_at: datetime
    listened_ms: int
    context_uri: str | None
    device_name: str | None
    end_sequence: int
    """The sequence of the event that ended it: with the track id, its identity."""


@dataclass(frozen=True, slots=True)
class Transition:
    state: UserPlayback
    plays: tuple[CompletedPlay, ...] = ()


def _ms_between(earlier: datetime, later: datetime) -> int:
    return int((later - earlier).total_seconds() * 1000)


def _segment_ms(
    play: OpenPlay, track: Track, at: datetime, progress_ms: int | None, *, by_progress: bool
) -> int:
    """The audio heard in the running segment of ``play`` if it ends at ``at``."""
    assert play.segment_started_at is not None
    elapsed = max(0, _ms_between(play.segment_started_at, at))
    start = play.segment_start_progress_ms
    if by_progress and progress_ms is not None and start is not None:
        moved = progress_ms - start
        if 0 <= moved <= elapsed + PROGRESS_TOLERANCE_MS:
            return moved
    if start is not None and track.duration_ms > 0:
        return min(elapsed, max(0, track.duration_ms - start))
    return elapsed


def _pause(
    play: OpenPlay, track: Track, at: datetime, progress_ms: int | None, *, by_progress: bool
) -> OpenPlay:
    if play.segment_started_at is None:
        return play
    heard = _segment_ms(play, track, at, progress_ms, by_progress=by_progress)
    return OpenPlay(started_at=play.started_at, listened_ms=play.listened_ms + heard)


def _resume(play: OpenPlay, at: datetime, progress_ms: int | None) -> OpenPlay:
    # Not ``dataclasses.replace``: this runs for most events, and replace costs several times
    # a plain construction.
    return OpenPlay(play.started_at, play.listened_ms, at, progress_ms)


def _close(
    state: UserPlayback,
    track: Track,
    play: OpenPlay,
    at: datetime,
    progress_ms: int | None,
    sequence: int,
    rule: PlayRule,
    *,
    listened_ms: int | None = None,
) -> tuple[CompletedPlay, ...]:
    """Close ``play``: the completed play when the rule counts it, else nothing."""
    if listened_ms is None:
        listened_ms = _pause(play, track, at, progress_ms, by_progress=True).listened_ms
    if not rule.is_play(listened_ms, track.duration_ms):
        return ()
    return (
        CompletedPlay(
            user_id=state.user_id,
            track=track,
            started_at=play.started_at,
            ended_at=at,
            listened_ms=listened_ms,
            context_uri=state.context.uri if state.context else None,
            device_name=state.device.name if state.device else None,
            end_sequence=sequence,
        ),
    )


def apply_event(state: UserPlayback, event: PlaybackEventData, rule: PlayRule) -> Transition:
    """The state after ``event`` and the plays it completed. ``event`` passed
    ``validate_event`` and is the user's next one (sequence checks happen before)."""
    at, kind, sequence = event.observed_at, event.kind, event.sequence
    track, play = state.track, state.play
    plays: tuple[CompletedPlay, ...] = ()

    if kind is PlaybackEventKind.TRACK_ENDED:
        assert event.track is not None
        ended = event.track
        if play is not None and track is not None and track.id == ended.id:
            plays = _close(
                state,
                track,
                play,
                at,
                event.progress_ms,
                sequence,
                rule,
                listened_ms=event.listened_ms,
            )
        else:
            # The start of this track was never applied (a gap): close what was open by our
            # own measure, and take the watcher's word for the track that ended.
            if play is not None and track is not None:
                plays = _close(state, track, play, at, None, sequence, rule)
            if event.listened_ms:
                unseen = OpenPlay(started_at=at - timedelta(milliseconds=event.listened_ms))
                plays += _close(
                    state, ended, unseen, at, None, sequence, rule, listened_ms=event.listened_ms
                )
        track, play = ended, None
    elif kind is PlaybackEventKind.STOPPED:
        if play is not None and track is not None:
            plays = _close(state, track, play, at, event.progress_ms, sequence, rule)
        track, play = None, None
    else:
        if event.track is not None and (
            kind is PlaybackEventKind.TRACK_STARTED
            or play is None
            or track is None
            or event.track.id != track.id
        ):
            # A new stretch of a track: even the same track again is a new play.
            if play is not None and track is not None:
                plays = _close(state, track, play, at, None, sequence, rule)
            track, play = event.track, OpenPlay(started_at=at)
        if play is not None and track is not None:
            if kind is PlaybackEventKind.SEEKED and play.segment_started_at is not None:
                # The position after a seek says nothing about what played before it.
                play = _pause(play, track, at, None, by_progress=False)
            if play.segment_started_at is not None and not event.is_playing:
                play = _pause(play, track, at, event.progress_ms, by_progress=True)
            elif play.segment_started_at is None and event.is_playing:
                play = _resume(play, at, event.progress_ms)

    if kind is PlaybackEventKind.STOPPED:
        context = None
    elif kind is PlaybackEventKind.TRACK_STARTED:
        context = event.context
    else:
        context = event.context or state.context
    new_state = UserPlayback(
        user_id=state.user_id,
        last_sequence=sequence,
        track=track,
        is_playing=event.is_playing and play is not None,
        progress_ms=event.progress_ms,
        device=event.device or state.device,
        context=context,
        observed_at=at,
        play=play,
    )
    return Transition(new_state, plays)
