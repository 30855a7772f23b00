"""Compares the playback events on the topic with the fake's ground truth, user by user."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from backbeat.events.playback import PlaybackEvent, PlaybackEventKind

# Spotify lists a play in recently-played once more than this much of it was heard; shorter
# plays that begin and end between two polls of an idle user are invisible to any poller.
LISTED_MIN_MS = 30_000
# A poll sees a change at most one active interval (plus jitter) after it happened.
SEEN_WITHIN_MS = 10_000
# The longest a user waits between polls (the long-idle interval plus jitter): a play begun
# this close to the end of a run may not have been polled yet.
LONGEST_POLL_GAP_MS = 70_000


@dataclass
class Reconstruction:
    plays: int = 0
    matched: int = 0
    matched_backfilled: int = 0
    missing_listed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    missing_short: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    not_yet_polled: int = 0
    unexpected_starts: list[tuple[str, str, int]] = field(default_factory=list)
    repeats_in_truth: int = 0


def starts_by_user(events: list[PlaybackEvent]) -> dict[str, list[PlaybackEvent]]:
    starts: dict[str, list[PlaybackEvent]] = defaultdict(list)
    for event in sorted(events, key=lambda e: (e.subject, e.data.sequence)):
        if event.data.kind is PlaybackEventKind.TRACK_STARTED:
            starts[event.subject].append(event)
    return starts


def _ms(event: PlaybackEvent) -> int:
    return int(event.data.observed_at.timestamp() * 1000)


def reconstruct(
    events: list[PlaybackEvent], truth: dict[str, list[dict[str, Any]]], now_ms: int
) -> Reconstruction:
    """Align each user's track starts with their ground-truth plays, in order: every start
    must be a distinct play of the same item at a consistent moment."""
    result = Reconstruction()
    starts = starts_by_user(events)
    for user_id, plays in truth.items():
        pending = list(starts.get(user_id, []))
        previous_item = None
        for play in plays:
            result.plays += 1
            if play["item_id"] == previous_item and play.get("end_reason") is not None:
                result.repeats_in_truth += 1
            previous_item = play["item_id"]
            ended = play["ended_at_ms"] if play["ended_at_ms"] is not None else now_ms
            if pending and pending[0].data.track and pending[0].data.track.id == play["item_id"]:
                start = pending[0]
                if start.data.backfilled:
                    earliest = play["started_at_ms"] - play["duration_ms"]
                    in_time = earliest <= _ms(start) <= ended
                else:
                    in_time = play["started_at_ms"] <= _ms(start) <= ended + SEEN_WITHIN_MS
                if in_time:
                    pending.pop(0)
                    result.matched += 1
                    result.matched_backfilled += start.data.backfilled
                    continue
            if play["ended_at_ms"] is None and play["started_at_ms"] > now_ms - LONGEST_POLL_GAP_MS:
                result.not_yet_polled += 1
                continue
            bucket = (
                result.missing_listed
                if play["listened_ms"] > LISTED_MIN_MS
                else result.missing_short
            )
            bucket.append((user_id, play))
        result.unexpected_starts += [
            (user_id, s.data.track.id if s.data.track else "", s.data.sequence) for s in pending
        ]
    return result


def sequences_are_gapless(events: list[PlaybackEvent]) -> bool:
    by_user: dict[str, list[int]] = defaultdict(list)
    for event in events:
        by_user[event.subject].append(event.data.sequence)
    return all(sorted(seqs) == list(range(1, len(seqs) + 1)) for seqs in by_user.values())
