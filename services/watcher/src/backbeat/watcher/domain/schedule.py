"""When to poll a user next: often while music plays, right after the predicted end of the
track, less often when paused, rarely when nothing plays, and more rarely still after a long
idle spell. Every interval is a setting; jitter keeps users from polling in lockstep.
"""

from __future__ import annotations

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
    idle_s: float = 30.0
    long_idle_s: float = 60.0
    long_idle_after_s: float = 600.0
    # Each interval is stretched or shrunk by up to this fraction, at random.
    jitter: float = 0.1
    adaptive: bool = True
    minimum_s: float = 0.2


def _jittered(seconds: float, jitter: float, spread: float) -> float:
    return seconds * (1.0 + jitter * (2.0 * spread - 1.0))


def next_poll_delay(
    intervals: PollIntervals,
    snapshot: PlaybackSnapshot,
    last_active_at_ms: int | None,
    spread: float,
) -> float:
    """Seconds from ``snapshot`` to the next poll. ``spread`` is a uniform draw in [0, 1)."""
    if not intervals.adaptive:
        return max(intervals.minimum_s, _jittered(intervals.active_s, intervals.jitter, spread))
    if snapshot.active and snapshot.is_playing:
        remaining = snapshot.remaining_ms
        if remaining is not None:
            until_end = remaining / 1000 + intervals.near_end_margin_s
            if until_end < intervals.active_s * (1.0 - intervals.jitter):
                # Jitter only ever delays this poll: an early one would see the old track.
                late = intervals.near_end_margin_s * spread
                return max(intervals.minimum_s, until_end + late)
        # While music plays, jitter only ever shortens the interval: a playing user is never
        # polled less often than the active interval, so an unpredicted change (a skip) is
        # seen at least as soon as a fixed poll at that interval would see it.
        early = intervals.active_s * intervals.jitter * spread
        return max(intervals.minimum_s, intervals.active_s - early)
    base = _resting_interval_s(intervals, snapshot, last_active_at_ms)
    return max(intervals.minimum_s, _jittered(base, intervals.jitter, spread))


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
