"""One user's event timeline: folds each observation of the player into the events to
publish, each with the user's next sequence number, and the state to remember.

The state (`WatchState`) is what survives restarts and moves between instances: the last
observed snapshot, the last sequence number used, and the open play's listening so far.

Catch-up after a gap in watching (a new connection, a restart, a rebalance, an outage, a
rate-limit pause): the plays Spotify's recently-played lists as ended after the last
observation are the plays the watcher did not see end, and nothing else, because every play
it saw end was published together with the state that moved the cursor past it. So:

- the first listed play, when it is the track that was current at the last observation, is
  that play ending: a ``track_ended`` (it was started live, so no new start);
- otherwise that track ended unlisted (Spotify lists plays over 30 s) before the first
  listed one: ``track_ended`` at the estimated moment;
- every other listed play becomes a ``track_started`` + ``track_ended`` pair marked
  ``backfilled``, the start estimated as the end minus the duration (never before the end of
  the previous play), ``listened_ms`` as the time between the two;
- then the current snapshot is compared with "between two tracks", so whatever plays now is
  a new play.

Plays that ended after the current snapshot are ignored: the snapshot still shows them
playing, and the next observation ends them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from backbeat.events.playback import (
    Device,
    PlaybackContext,
    PlaybackEventData,
    PlaybackEventKind,
    Track,
)
from backbeat.watcher.domain.changes import SEEK_TOLERANCE_MS, detect_changes
from backbeat.watcher.domain.snapshot import PlaybackSnapshot, RecentPlay

# Spotify lists a play in recently-played once more than this much of it was heard.
LISTED_MIN_MS = 30_000


@dataclass(frozen=True, slots=True)
class OpenPlay:
    """The play of the current track that a published ``track_started`` began."""

    track_uri: str
    listened_ms: int


@dataclass(frozen=True, slots=True)
class WatchState:
    """What the watcher remembers of one user."""

    user_id: str
    sequence: int = 0
    snapshot: PlaybackSnapshot | None = None
    play: OpenPlay | None = None
    # The last time the player was seen active: long idleness slows polling further.
    last_active_at_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """The outcome of one observation: the new state and the events it produced, in order."""

    state: WatchState
    events: list[PlaybackEventData]


def catch_up_cursor(state: WatchState | None, connected_since_ms: int) -> int:
    """Plays that ended after this instant may be unseen: the last observation, or the
    moment the user connected when there is none."""
    if state is not None and state.snapshot is not None:
        # A reconnection starts afresh: plays from while the user was disconnected are not
        # the watcher's to publish.
        return max(state.snapshot.observed_at_ms, connected_since_ms)
    return connected_since_ms


def needs_catch_up(
    state: WatchState | None,
    current: PlaybackSnapshot,
    connected_since_ms: int,
    catch_up_after_ms: int,
) -> bool:
    """Whether plays may have begun and ended unseen since the cursor: the gap is longer
    than the schedule ever leaves a user, or the player came to life after an idle spell
    long enough to hold a listed play (the idle intervals are that long)."""
    gap = current.observed_at_ms - catch_up_cursor(state, connected_since_ms)
    if gap > catch_up_after_ms:
        return True
    was_idle = state is None or state.snapshot is None or not state.snapshot.active
    return was_idle and current.active and gap > LISTED_MIN_MS


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class _EventLog:
    """Numbers and collects the events of one observation."""

    def __init__(self, user_id: str, sequence: int) -> None:
        self.user_id = user_id
        self.sequence = sequence
        self.events: list[PlaybackEventData] = []

    def add(
        self,
        kind: PlaybackEventKind,
        *,
        observed_at_ms: int,
        track: Track | None,
        progress_ms: int | None,
        is_playing: bool,
        device: Device | None = None,
        context: PlaybackContext | None = None,
        spotify_timestamp_ms: int | None = None,
        listened_ms: int | None = None,
        backfilled: bool = False,
    ) -> None:
        self.sequence += 1
        self.events.append(
            PlaybackEventData(
                kind=kind,
                user_id=self.user_id,
                sequence=self.sequence,
                track=track,
                progress_ms=None if progress_ms is None else max(0, progress_ms),
                is_playing=is_playing,
                device=device,
                context=context,
                spotify_timestamp_ms=spotify_timestamp_ms,
                listened_ms=None if listened_ms is None else max(0, listened_ms),
                observed_at=_at(observed_at_ms),
                backfilled=backfilled,
            )
        )

    def live(
        self, kind: PlaybackEventKind, snapshot: PlaybackSnapshot, track: Track | None
    ) -> None:
        self.add(
            kind,
            observed_at_ms=snapshot.observed_at_ms,
            track=track,
            progress_ms=snapshot.progress_ms if snapshot.active else None,
            is_playing=snapshot.is_playing,
            device=snapshot.device,
            context=snapshot.context,
            spotify_timestamp_ms=snapshot.spotify_timestamp_ms,
        )


def _tail_heard_ms(previous: PlaybackSnapshot, until_ms: int) -> int:
    """Audio of the previous track heard after its last observation, if it ended by
    ``until_ms``: it played on to its end at most."""
    if not previous.is_playing or previous.remaining_ms is None:
        return 0
    return max(0, min(until_ms - previous.observed_at_ms, previous.remaining_ms))


def _heard_between_ms(previous: PlaybackSnapshot, current: PlaybackSnapshot) -> int:
    """Audio of one continuing play heard between two observations of it."""
    elapsed = max(0, current.observed_at_ms - previous.observed_at_ms)
    moved = current.progress - previous.progress
    if previous.is_playing and current.is_playing:
        # Playing at both ends: the position moved by the time, unless it was seeked, in
        # which case the time is still what was heard.
        return moved if 0 <= moved <= elapsed + SEEK_TOLERANCE_MS else elapsed
    if previous.is_playing or current.is_playing:
        return max(0, min(moved, elapsed))
    return 0


def _head_heard_ms(previous: PlaybackSnapshot | None, current: PlaybackSnapshot) -> int:
    """Audio of a play that began since ``previous``: at most its position, and at most the
    time since the previous observation."""
    if previous is None:
        return current.progress
    return max(0, min(current.progress, current.observed_at_ms - previous.observed_at_ms))


def _ended_progress(previous: PlaybackSnapshot, tail_ms: int) -> int:
    if previous.track is None:
        return previous.progress
    return min(previous.track.duration_ms, previous.progress + tail_ms)


def observe(
    state: WatchState,
    current: PlaybackSnapshot,
    recent_plays: Sequence[RecentPlay] = (),
) -> Observation:
    """Fold ``current`` into ``state``. ``recent_plays`` is what recently-played listed after
    the catch-up cursor, when a gap called for it (empty otherwise)."""
    log = _EventLog(state.user_id, state.sequence)
    previous = state.snapshot
    play = state.play
    lower = previous.observed_at_ms if previous is not None else None
    gap_plays = sorted(
        (
            p
            for p in recent_plays
            if (lower is None or p.played_at_ms > lower)
            and p.played_at_ms <= current.observed_at_ms
        ),
        key=lambda p: p.played_at_ms,
    )
    if gap_plays:
        previous, play = _catch_up(log, previous, play, gap_plays)

    changes = detect_changes(previous, current)
    kinds = {change.kind for change in changes}
    for change in changes:
        if change.kind is PlaybackEventKind.TRACK_ENDED:
            assert previous is not None and change.track is not None
            tail = _tail_heard_ms(previous, current.observed_at_ms)
            heard_before = play.listened_ms if play and play.track_uri == change.track.uri else 0
            log.add(
                PlaybackEventKind.TRACK_ENDED,
                observed_at_ms=current.observed_at_ms,
                track=change.track,
                progress_ms=_ended_progress(previous, tail),
                is_playing=False,
                device=previous.device,
                context=previous.context,
                spotify_timestamp_ms=previous.spotify_timestamp_ms,
                listened_ms=heard_before + tail,
            )
            play = None
        elif change.kind is PlaybackEventKind.TRACK_STARTED:
            assert change.track is not None
            play = OpenPlay(change.track.uri, _head_heard_ms(previous, current))
            log.live(change.kind, current, change.track)
        else:
            log.live(change.kind, current, change.track)
    if (
        play is not None
        and previous is not None
        and PlaybackEventKind.TRACK_STARTED not in kinds
        and current.track is not None
        and play.track_uri == current.track.uri
    ):
        play = replace(play, listened_ms=play.listened_ms + _heard_between_ms(previous, current))
    if not current.active:
        play = None

    new_state = WatchState(
        user_id=state.user_id,
        sequence=log.sequence,
        snapshot=current,
        play=play,
        last_active_at_ms=current.observed_at_ms if current.active else state.last_active_at_ms,
    )
    return Observation(new_state, log.events)


def _catch_up(
    log: _EventLog,
    previous: PlaybackSnapshot | None,
    play: OpenPlay | None,
    gap_plays: list[RecentPlay],
) -> tuple[PlaybackSnapshot, None]:
    """Publish the plays of a gap; returns the "between two tracks" snapshot to continue from."""
    ended_at = gap_plays[0].played_at_ms - gap_plays[0].track.duration_ms
    if previous is not None:
        ended_at = previous.observed_at_ms
        if previous.active and previous.track is not None and play is not None:
            first = gap_plays[0]
            if first.track.uri == previous.track.uri:
                ended_at = first.played_at_ms
                gap_plays = gap_plays[1:]
            else:
                # It ended unlisted, at the latest when it would have run out, and before
                # the first listed play began.
                latest = previous.observed_at_ms + (previous.remaining_ms or 0)
                begun = first.played_at_ms - first.track.duration_ms
                ended_at = max(previous.observed_at_ms, min(latest, begun))
            tail = _tail_heard_ms(previous, ended_at)
            log.add(
                PlaybackEventKind.TRACK_ENDED,
                observed_at_ms=ended_at,
                track=previous.track,
                progress_ms=_ended_progress(previous, tail),
                is_playing=False,
                device=previous.device,
                context=previous.context,
                listened_ms=play.listened_ms + tail,
                backfilled=True,
            )
    for recovered in gap_plays:
        started_at = max(ended_at, recovered.played_at_ms - recovered.track.duration_ms)
        for kind, at, progress in (
            (PlaybackEventKind.TRACK_STARTED, started_at, 0),
            (PlaybackEventKind.TRACK_ENDED, recovered.played_at_ms, None),
        ):
            ended = kind is PlaybackEventKind.TRACK_ENDED
            log.add(
                kind,
                observed_at_ms=at,
                track=recovered.track,
                progress_ms=recovered.played_at_ms - started_at if ended else progress,
                is_playing=not ended,
                context=recovered.context,
                listened_ms=recovered.played_at_ms - started_at if ended else None,
                backfilled=True,
            )
        ended_at = recovered.played_at_ms
    between_tracks = PlaybackSnapshot(
        observed_at_ms=ended_at,
        active=True,
        device=previous.device if previous is not None else None,
    )
    return between_tracks, None
