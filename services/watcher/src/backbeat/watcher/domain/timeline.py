"""One user's event timeline: folds each observation of the player into the events to
publish, each with the user's next sequence number, and the state to remember.

The state (`WatchState`) is what survives restarts and moves between instances: the last
observed snapshot, the last sequence number used, and the open play's listening so far.

What counts as heard (``listened_ms``, which playback's play rule judges) is only what can be
proven, and how it is proven depends on whether the user was watched closely:

- Live, well sampled (observations no further apart than the schedule's longest interval for
  the state seen): the position's movement between two observations of the same play. The
  time after the last observation of a playing track, up to the first observation without it
  (skipped, stopped, paused elsewhere), is not heard time unless the position proves it: the
  next item began where the track was due to run out, so it played to its end.
- A gap (a restart, a rebalance, an outage, a rate-limit pause: anything longer than that
  interval): Spotify's own record decides, never the positions at the two ends of the gap.
  recently-played dates the end of each play heard past 30 s (``played_at``); the player's
  ``timestamp`` dates its last change. A track playing at the last observation is credited up
  to the end or the change Spotify dates, and, after a change it dates, from that change on
  while it plays; a track that left the player unlisted is credited nothing after the last
  observation.

Catch-up after a gap: the plays recently-played lists as ended after the last observation
are the plays the watcher did not see end, and nothing else, because every play it saw end
was published together with the state that moved the cursor past it. So:

- the first listed play, when it is the track that was current at the last observation, is
  that play ending: a ``track_ended`` (it was started live, so no new start);
- otherwise that track ended unlisted (Spotify lists plays over 30 s) before the first
  listed one: ``track_ended`` at the estimated moment;
- every other listed play becomes a ``track_started`` + ``track_ended`` pair marked
  ``backfilled``, the start estimated as the end minus the duration (never before the end of
  the previous play), ``listened_ms`` as the time between the two: Spotify says it was heard
  past 30 s and when it ended, not for how long;
- then the current snapshot is compared with "between two tracks", so whatever plays now is
  a new play, dated from when Spotify's timestamp and its position say it began.

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
from backbeat.watcher.domain.changes import (
    RESTART_TOLERANCE_MS,
    SEEK_TOLERANCE_MS,
    detect_changes,
    started_from_zero,
)
from backbeat.watcher.domain.schedule import PollIntervals, longest_interval_s
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
    # While the player has been seen idle since then, with no catch-up: the plays that ended
    # after this instant are not accounted for yet (a whole play fits between idle polls).
    unsettled_since_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """The outcome of one observation: the new state and the events it produced, in order."""

    state: WatchState
    events: list[PlaybackEventData]


def catch_up_cursor(state: WatchState | None, connected_since_ms: int) -> int:
    """Plays that ended after this instant may be unseen: the last observation (the start of
    the idle spell it ends, when unsettled), or the moment the user connected when there is
    none."""
    if state is not None and state.snapshot is not None:
        seen_until = state.snapshot.observed_at_ms
        if state.unsettled_since_ms is not None:
            seen_until = state.unsettled_since_ms
        # A reconnection starts afresh: plays from while the user was disconnected are not
        # the watcher's to publish.
        return max(seen_until, connected_since_ms)
    return connected_since_ms


def needs_catch_up(
    state: WatchState | None,
    current: PlaybackSnapshot,
    connected_since_ms: int,
    intervals: PollIntervals,
    slack_ms: int,
) -> bool:
    """Whether the time since the cursor is a gap that polling cannot account for, so that
    Spotify's own record must decide it: longer than the schedule's longest interval for what
    was last seen (plus ``slack_ms`` for a slow answer or a late start), while a play was open
    (its listening over the gap is unknown) or long enough to hold an unseen listed play.

    A whole play may begin and end between two idle polls (they are further apart than a
    listed play lasts). Such an idle spell is settled from where it began: when the player is
    next seen alive, after a gap, or once it has stayed unsettled for ``idle_settle_s``, so
    an idle poll usually costs one request and every play still reaches the history."""
    cursor = catch_up_cursor(state, connected_since_ms)
    gap = current.observed_at_ms - cursor
    previous = state.snapshot if state is not None else None
    if previous is None or cursor > previous.observed_at_ms:
        # Nothing observed since the user connected.
        return gap > LISTED_MIN_MS
    last_active = state.last_active_at_ms if state is not None else None
    normal_ms = longest_interval_s(intervals, previous, last_active) * 1000 + slack_ms
    if not previous.active:
        # ``gap`` runs from where the idle spell began (`WatchState.unsettled_since_ms`).
        if gap <= LISTED_MIN_MS:
            return False
        since_previous = current.observed_at_ms - previous.observed_at_ms
        return current.active or since_previous > normal_ms or gap > intervals.idle_settle_s * 1000
    if gap <= normal_ms:
        return False
    return previous.is_playing or gap > LISTED_MIN_MS


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


def _change_at_ms(snapshot: PlaybackSnapshot) -> int | None:
    """When Spotify says the player last changed, never after the observation itself."""
    if snapshot.spotify_timestamp_ms is None:
        return None
    return min(snapshot.spotify_timestamp_ms, snapshot.observed_at_ms)


def _began_at_ms(snapshot: PlaybackSnapshot) -> int | None:
    """When the item now current began from 0:00, if Spotify's timestamp and the position
    agree that nothing changed since (None when they cannot say)."""
    if not snapshot.active or not started_from_zero(snapshot):
        return None
    if snapshot.is_playing:
        return snapshot.observed_at_ms - snapshot.progress
    return _change_at_ms(snapshot) if snapshot.progress == 0 else None


def _ran_out(previous: PlaybackSnapshot, current: PlaybackSnapshot) -> bool:
    """The track playing at ``previous`` played to its end: what is current now began where
    that end was due."""
    if not previous.is_playing or previous.remaining_ms is None:
        return False
    began = _began_at_ms(current)
    due = previous.observed_at_ms + previous.remaining_ms
    return began is not None and abs(began - due) <= SEEK_TOLERANCE_MS


def _tail_heard_ms(
    previous: PlaybackSnapshot, current: PlaybackSnapshot | None, ended_at_ms: int | None
) -> int:
    """Audio of the previous track heard after its last observation. ``ended_at_ms`` is the
    end Spotify dated (recently-played's ``played_at``): it played on until then. Without
    it, only a track that ran out by itself is credited its remainder; a skip or a stop
    between two observations credits nothing, since a pause just after the first cannot be
    told apart."""
    if not previous.is_playing or previous.remaining_ms is None:
        return 0
    if ended_at_ms is not None:
        return max(0, min(ended_at_ms - previous.observed_at_ms, previous.remaining_ms))
    if current is not None and _ran_out(previous, current):
        return previous.remaining_ms
    return 0


def _heard_between_ms(previous: PlaybackSnapshot, current: PlaybackSnapshot, gap: bool) -> int:
    """Audio of one continuing play heard between two observations of it."""
    elapsed = max(0, current.observed_at_ms - previous.observed_at_ms)
    moved = current.progress - previous.progress
    if gap:
        return _heard_across_gap_ms(previous, current, elapsed)
    if previous.is_playing and current.is_playing:
        # Playing at both ends: the position moved by the time, unless it was seeked, in
        # which case the time is still what was heard.
        return moved if 0 <= moved <= elapsed + SEEK_TOLERANCE_MS else elapsed
    if previous.is_playing or current.is_playing:
        return max(0, min(moved, elapsed))
    return 0


def _changed_since(previous: PlaybackSnapshot, current: PlaybackSnapshot) -> bool:
    """Spotify dates a change of the player after ``previous`` was observed. Both timestamps
    are on Spotify's clock, so they are compared with each other when both are known."""
    if current.spotify_timestamp_ms is None:
        return False
    if previous.spotify_timestamp_ms is not None:
        return current.spotify_timestamp_ms > previous.spotify_timestamp_ms + RESTART_TOLERANCE_MS
    return current.spotify_timestamp_ms > previous.observed_at_ms + SEEK_TOLERANCE_MS


def _heard_across_gap_ms(
    previous: PlaybackSnapshot, current: PlaybackSnapshot, elapsed: int
) -> int:
    """One play seen at both ends of a gap. Spotify's timestamp dates the last change (a
    seek, a pause, a resume): from then on the position proves what played; before it, the
    play is credited up to the change if it was playing at the last observation (moved by
    the time, or the change was a seek that Spotify dates), or by how far the position moved
    when a pause and resume in between explain it."""
    changed_at = _change_at_ms(current)
    if not _changed_since(previous, current) or changed_at is None:
        # Spotify dates no change since the last observation: playing throughout (the
        # position moved by the time) or paused throughout. Otherwise its timestamp missed a
        # change, and the position's movement is all that is proven.
        if not previous.is_playing:
            return 0
        return max(0, min(elapsed, current.progress - previous.progress))
    after = current.observed_at_ms - changed_at if current.is_playing else 0
    if not previous.is_playing:
        return after
    before_window = max(0, changed_at - previous.observed_at_ms)
    moved = current.progress - after - previous.progress
    if 0 <= moved <= before_window + SEEK_TOLERANCE_MS:
        before = min(moved, before_window)
    else:
        before = before_window  # a seek, at the moment Spotify dates
    if previous.remaining_ms is not None:
        before = min(before, previous.remaining_ms)
    return before + after


def _head_heard_ms(previous: PlaybackSnapshot | None, current: PlaybackSnapshot, gap: bool) -> int:
    """Audio of a play that began since ``previous``: at most its position, and at most the
    time since the previous observation; unwatched, only what followed the last change
    Spotify dates, unless the play began with that change."""
    if previous is None:
        heard = current.progress
    else:
        heard = max(0, min(current.progress, current.observed_at_ms - previous.observed_at_ms))
    changed_at = _change_at_ms(current)
    if (gap or previous is None) and changed_at is not None and current.is_playing:
        if _began_at_ms(current) is None:
            heard = min(heard, current.observed_at_ms - changed_at)
    return max(0, heard)


def _ended_progress(previous: PlaybackSnapshot, tail_ms: int) -> int:
    if previous.track is None:
        return previous.progress
    return min(previous.track.duration_ms, previous.progress + tail_ms)


def observe(
    state: WatchState,
    current: PlaybackSnapshot,
    recent_plays: Sequence[RecentPlay] | None = None,
) -> Observation:
    """Fold ``current`` into ``state``. ``recent_plays`` is what recently-played listed after
    the catch-up cursor when the time since the last observation is a gap (see
    `needs_catch_up`); None when the user was watched closely."""
    log = _EventLog(state.user_id, state.sequence)
    previous = state.snapshot
    play = state.play
    gap = recent_plays is not None
    unsettled = state.unsettled_since_ms
    if gap and unsettled is not None and previous is not None and not previous.active:
        # The player was idle all along since the spell began: the catch-up starts there.
        previous = PlaybackSnapshot.nothing_playing(unsettled)
    lower = previous.observed_at_ms if previous is not None else None
    gap_plays = sorted(
        (
            p
            for p in recent_plays or ()
            if (lower is None or p.played_at_ms > lower)
            and p.played_at_ms <= current.observed_at_ms
        ),
        key=lambda p: p.played_at_ms,
    )
    if gap_plays:
        previous, play = _catch_up(log, previous, play, gap_plays)

    changes = detect_changes(previous, current)
    kinds = {change.kind for change in changes}
    # After a gap, a play that began unseen is dated from when it began, and so is the end of
    # the one before it, rather than from when the change was noticed.
    began = _began_at_ms(current) if gap and current.is_playing else None
    if previous is None or (began is not None and began < previous.observed_at_ms):
        began = None
    for change in changes:
        if change.kind is PlaybackEventKind.TRACK_ENDED:
            assert previous is not None and change.track is not None
            tail = _tail_heard_ms(previous, current, None)
            heard_before = play.listened_ms if play and play.track_uri == change.track.uri else 0
            log.add(
                PlaybackEventKind.TRACK_ENDED,
                observed_at_ms=current.observed_at_ms if began is None else began,
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
            play = OpenPlay(change.track.uri, _head_heard_ms(previous, current, gap))
            _started(log, current, change.track, began)
        else:
            log.live(change.kind, current, change.track)
    if (
        play is not None
        and previous is not None
        and PlaybackEventKind.TRACK_STARTED not in kinds
        and current.track is not None
        and play.track_uri == current.track.uri
    ):
        heard = _heard_between_ms(previous, current, gap)
        play = replace(play, listened_ms=play.listened_ms + heard)
    if not current.active:
        play = None

    new_state = WatchState(
        user_id=state.user_id,
        sequence=log.sequence,
        snapshot=current,
        play=play,
        last_active_at_ms=current.observed_at_ms if current.active else state.last_active_at_ms,
        unsettled_since_ms=_unsettled_since(state, current, gap),
    )
    return Observation(new_state, log.events)


def _unsettled_since(state: WatchState, current: PlaybackSnapshot, caught_up: bool) -> int | None:
    """Idle again without a catch-up: the spell stays unsettled from where it began."""
    previous = state.snapshot
    if caught_up or current.active or previous is None or previous.active:
        return None
    if state.unsettled_since_ms is not None:
        return state.unsettled_since_ms
    return previous.observed_at_ms


def _started(log: _EventLog, current: PlaybackSnapshot, track: Track, began: int | None) -> None:
    """``track_started`` for the play now current, at ``began`` when that is known."""
    if began is None:
        log.live(PlaybackEventKind.TRACK_STARTED, current, track)
        return
    log.add(
        PlaybackEventKind.TRACK_STARTED,
        observed_at_ms=began,
        track=track,
        progress_ms=0,
        is_playing=True,
        device=current.device,
        context=current.context,
        spotify_timestamp_ms=current.spotify_timestamp_ms,
    )


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
            dated_end: int | None = None
            if first.track.uri == previous.track.uri:
                ended_at = dated_end = first.played_at_ms
                gap_plays = gap_plays[1:]
            else:
                # It ended unlisted, at the latest when it would have run out, and before
                # the first listed play began; how long it played on is unknown.
                latest = previous.observed_at_ms + (previous.remaining_ms or 0)
                begun = first.played_at_ms - first.track.duration_ms
                ended_at = max(previous.observed_at_ms, min(latest, begun))
            tail = _tail_heard_ms(previous, None, dated_end)
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
