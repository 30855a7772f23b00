"""When to poll a user next: often while music plays, right after the predicted end of the
track, less often when paused, rarely when nothing plays, and more rarely still after a long
idle spell. A user whom someone is looking at (a live stream open: *viewed*) is polled much
more often in every state, and goes first when the rate budget is short. Every interval is a
setting; jitter keeps users from polling in lockstep.

Tiers and the delay before a change is seen (the interval, plus Spotify's answer and the
pipeline behind the watcher, tens of milliseconds):

- viewed, playing: ``viewed_active_s`` (1 s); paused: ``viewed_paused_s`` (2 s); nothing
  playing: ``viewed_idle_s`` (1.5 s). Opening the page polls at once.
- not viewed, playing: ``active_s`` (5 s), and right after the predicted end of the track;
  paused: ``paused_s`` (15 s).
- not viewed, nothing playing: ``idle_s`` (60 s), ``long_idle_s`` (120 s) after
  ``long_idle_after_s`` of idleness; at once when someone opens the page. A whole play can
  begin and end between two such polls: Spotify's recently-played settles the idle spell
  when the player is next seen alive, or ``idle_settle_s`` (15 min) after it began (see
  ``timeline.needs_catch_up``), so every listed play still reaches the history, later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from backbeat.watcher.domain.snapshot import PlaybackSnapshot


@dataclass(frozen=True, slots=True)
class PollIntervals:
    """The schedule's settings, in seconds. ``adaptive=False`` polls every user every
    ``active_s`` whatever it is doing (the fixed schedule other trackers use)."""

    active_s: float = 5.0
    # Poll this long after the predicted end of the track, so the next one is already current.
    near_end_margin_s: float = 0.5
    paused_s: float = 15.0
    idle_s: float = 60.0
    long_idle_s: float = 120.0
    long_idle_after_s: float = 600.0
    # Each interval is stretched or shrunk by up to this fraction, at random.
    jitter: float = 0.1
    adaptive: bool = True
    minimum_s: float = 0.2
    # Users with a live stream open: polled this often while playing, paused, or idle. Each is
    # no longer than its counterpart above (the gap rules assume the longer ones).
    viewed_active_s: float = 1.0
    viewed_paused_s: float = 2.0
    viewed_idle_s: float = 1.5
    # An idle spell's polls read the player only; recently-played settles the spell when the
    # player is next seen alive, or after this long at the latest (one request more).
    idle_settle_s: float = 900.0


def _jittered(seconds: float, jitter: float, spread: float) -> float:
    return seconds * (1.0 + jitter * (2.0 * spread - 1.0))


def next_poll_delay(
    intervals: PollIntervals,
    snapshot: PlaybackSnapshot,
    last_active_at_ms: int | None,
    spread: float,
    *,
    viewed: bool = False,
) -> float:
    """Seconds from ``snapshot`` to the next poll. ``spread`` is a uniform draw in [0, 1);
    ``viewed``: someone has a live stream of the user open."""
    if not intervals.adaptive:
        return max(intervals.minimum_s, _jittered(intervals.active_s, intervals.jitter, spread))
    if snapshot.active and snapshot.is_playing:
        active_s = intervals.viewed_active_s if viewed else intervals.active_s
        remaining = snapshot.remaining_ms
        if remaining is not None:
            until_end = remaining / 1000 + intervals.near_end_margin_s
            if until_end < active_s * (1.0 - intervals.jitter):
                # Jitter only ever delays this poll: an early one would see the old track.
                late = intervals.near_end_margin_s * spread
                return max(intervals.minimum_s, until_end + late)
        if viewed:
            # About every second, on average exactly: the viewed are most of the budget.
            return max(intervals.minimum_s, _jittered(active_s, intervals.jitter, spread))
        # While music plays, jitter only ever shortens the interval: a playing user is never
        # polled less often than the active interval, so an unpredicted change (a skip) is
        # seen at least as soon as a fixed poll at that interval would see it.
        early = active_s * intervals.jitter * spread
        return max(intervals.minimum_s, active_s - early)
    if viewed:
        base = intervals.viewed_paused_s if snapshot.active else intervals.viewed_idle_s
    else:
        base = _resting_interval_s(intervals, snapshot, last_active_at_ms)
    return max(intervals.minimum_s, _jittered(base, intervals.jitter, spread))


def tier_interval_s(
    intervals: PollIntervals,
    snapshot: PlaybackSnapshot | None,
    last_active_at_ms: int | None,
    *,
    viewed: bool = False,
) -> float:
    """The interval, before jitter, of the tier ``snapshot`` puts the user in (no snapshot:
    the playing tier, the shortest a user who is not viewed can be in)."""
    playing = snapshot is None or (snapshot.active and snapshot.is_playing)
    if not intervals.adaptive or (playing and not viewed):
        return intervals.active_s
    if viewed:
        if playing:
            return intervals.viewed_active_s
        assert snapshot is not None
        return intervals.viewed_paused_s if snapshot.active else intervals.viewed_idle_s
    assert snapshot is not None
    return _resting_interval_s(intervals, snapshot, last_active_at_ms)


def first_poll_delay(
    intervals: PollIntervals,
    snapshot: PlaybackSnapshot | None,
    last_active_at_ms: int | None,
    now_ms: int,
    spread: float,
    *,
    viewed: bool = False,
) -> float:
    """Seconds from ``now_ms`` (wall clock) to the first poll of a user this instance starts
    watching (a partition taken over, a start), from the last observation ``snapshot``
    (None: never observed). ``spread`` is a uniform draw in [0, 1).

    The schedule continues where it was: due at the last observation plus the next delay
    the schedule gives for it. A user never observed, or already overdue (the previous
    owner's death took longer than the interval), is due at a point spread over its tier's
    interval from now: a takeover moves tens of thousands of users at once, and due all at
    once (or within one active interval) they would spend the whole budget at once and run
    late behind it, while this keeps the rate the schedule had."""
    if snapshot is not None:
        delay = next_poll_delay(intervals, snapshot, last_active_at_ms, spread, viewed=viewed)
        due_in = (snapshot.observed_at_ms - now_ms) / 1000 + delay
        if due_in >= 0:
            # Never later than a full delay from now, should the observation's clock have run
            # ahead of this one.
            return min(due_in, delay)
    return spread * tier_interval_s(intervals, snapshot, last_active_at_ms, viewed=viewed)


def after_first_look_delay(
    intervals: PollIntervals,
    snapshot: PlaybackSnapshot,
    last_active_at_ms: int | None,
    spread: float,
    *,
    viewed: bool = False,
) -> float:
    """Seconds from a user's first observation (nothing known of them before) to the next
    poll: as `next_poll_delay` while music plays, anywhere in the tier's interval otherwise.

    Users first seen together (a cold start without state, a crowd connecting) would come
    due together again one interval later, and jitter spreads them only slowly, round after
    round: a cold start of 100,000 users bunched the idle ones' polls into a fifth of their
    interval for minutes, past the budget. One poll sooner than needed, once, is the price."""
    if not intervals.adaptive or (snapshot.active and snapshot.is_playing):
        return next_poll_delay(intervals, snapshot, last_active_at_ms, spread, viewed=viewed)
    interval = tier_interval_s(intervals, snapshot, last_active_at_ms, viewed=viewed)
    return max(intervals.minimum_s, spread * interval)


def viewed_first(
    due: Sequence[tuple[str, float]], viewed: Callable[[str], bool]
) -> list[tuple[str, float]]:
    """The due users (id, due time) with those someone views first, each group in due order:
    when the budget cannot poll everyone now, the viewed wait least and the others share
    what is left in the order they fell due."""
    first = [entry for entry in due if viewed(entry[0])]
    if not first or len(first) == len(due):
        return list(due)
    return first + [entry for entry in due if not viewed(entry[0])]


def _resting_interval_s(
    intervals: PollIntervals, snapshot: PlaybackSnapshot, last_active_at_ms: int | None
) -> float:
    """The interval before jitter while nothing plays: paused, idle, or idle for long."""
    if snapshot.active:
        return intervals.paused_s
    idle_for_s = (
        float("inf")
        if last_active_at_ms is None
        else (snapshot.observed_at_ms - last_active_at_ms) / 1000
    )
    long_idle = idle_for_s >= intervals.long_idle_after_s
    return intervals.long_idle_s if long_idle else intervals.idle_s


def longest_interval_s(
    intervals: PollIntervals, snapshot: PlaybackSnapshot, last_active_at_ms: int | None
) -> float:
    """The longest the schedule ever waits after ``snapshot``: observations further apart than
    this (plus the poll's own latency) leave a gap that polling alone cannot account for."""
    if not intervals.adaptive or (snapshot.active and snapshot.is_playing):
        # A playing user's interval is only ever shortened by jitter.
        stretch = 1.0 if intervals.adaptive else 1.0 + intervals.jitter
        return intervals.active_s * stretch
    return _resting_interval_s(intervals, snapshot, last_active_at_ms) * (1.0 + intervals.jitter)
