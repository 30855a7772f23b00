"""How watcher instances share one Spotify app's rate budget, and how a 429 seen by one of
them pauses them all.

The share follows ownership: an instance may spend ``budget * owned partitions / all
partitions`` of the connections topic. Chosen over a share negotiated through Kafka because
the consumer group already is the agreement: the group's (eager) rebalance protocol has
every member give up all its partitions before any member is assigned new ones, so the
partitions owned at any moment are disjoint and their shares add up to at most the whole
budget, with no extra protocol, no lease to expire and no message that can be late. An
instance drops its share before it lets partitions go (on revocation, and when fenced) and
takes the new one only once they are assigned, so the sum stays within the budget during a
rebalance too; a killed instance's share simply stops being spent until the survivors are
assigned its partitions. Users spread over partitions by the hash of their id, so each
partition holds about as many users and a share in proportion to partitions is one in
proportion to users (within about 1 % at 100,000 users over 12 partitions). A negotiated
share would follow users exactly, but every change would need a round of messages that an
instance could miss while it keeps spending, which is the over-spending this avoids.

What it does not cover: an instance frozen past its session (a stopped process, a host
swapping) that wakes still believing it owns its partitions spends its share (at most its
part of the burst, then its rate) until its next heartbeat tells it otherwise, about one
heartbeat interval; the survivors meanwhile spend that share too.

A 429 pauses the app everywhere: the instance that met it pauses its own budget at once and
publishes the deadline (wall-clock milliseconds) on a small compacted topic keyed by app,
which every instance reads. A reader honours it until the deadline plus a clock-skew
tolerance, since its clock may run ahead of the publisher's and a pause that ends early
trips the limit again; never longer than Retry-After plus the tolerance, since a clock far
behind would otherwise stop the app for nothing. A record whose deadline has passed
(read at start-up from the compacted topic) pauses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


def owned_share(owned: int, total: int) -> float:
    """The fraction of the app's budget an instance owning ``owned`` of ``total``
    partitions may spend."""
    if total <= 0 or owned <= 0:
        return 0.0
    return min(1.0, owned / total)


@dataclass(frozen=True, slots=True)
class AppPause:
    """Spotify asked ``spotify_app`` to wait: nothing of it goes out before
    ``paused_until_ms`` (Unix milliseconds on the clock of the instance that met the 429)."""

    spotify_app: str
    paused_until_ms: int
    retry_after_s: float


def pause_for(spotify_app: str, now_ms: int, retry_after_s: float) -> AppPause:
    return AppPause(spotify_app, now_ms + round(retry_after_s * 1000), retry_after_s)


def remaining_pause_s(pause: AppPause, now_ms: int, clock_skew_s: float) -> float:
    """How long an instance whose clock reads ``now_ms`` holds the app back (0: not at all)."""
    remaining = (pause.paused_until_ms - now_ms) / 1000
    if remaining <= 0:
        return 0.0
    return min(remaining + clock_skew_s, pause.retry_after_s + clock_skew_s)
