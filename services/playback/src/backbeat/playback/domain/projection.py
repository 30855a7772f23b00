"""Folds one user's events, in delivery order, into their state: each event at most once.

An event is skipped when its id was already applied (in an earlier transaction, or earlier in
the same batch) or when its sequence is not after the user's last applied one. A sequence that
jumps ahead is applied and reported as a gap: the events in between are lost to the projection,
and stopping the consumer would not bring them back.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from backbeat.events.playback import PlaybackEventData
from backbeat.playback.domain.listening import CompletedPlay, UserPlayback, apply_event
from backbeat.playback.domain.play_rule import PlayRule
from backbeat.playback.domain.sequence import SequenceVerdict, check_sequence


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """A parsed, valid playback event and its CloudEvents id."""

    event_id: str
    data: PlaybackEventData


@dataclass(frozen=True, slots=True)
class SequenceGap:
    user_id: str
    expected: int
    received: int

    @property
    def missing(self) -> int:
        return self.received - self.expected


@dataclass(slots=True)
class UserProjection:
    """What a run of one user's events did."""

    state: UserPlayback
    applied: list[IncomingEvent] = field(default_factory=list)
    plays: list[CompletedPlay] = field(default_factory=list)
    skipped: int = 0
    gaps: list[SequenceGap] = field(default_factory=list)


def project_user(
    state: UserPlayback,
    events: Iterable[IncomingEvent],
    rule: PlayRule,
    applied_ids: Collection[str] = (),
) -> UserProjection:
    """Apply ``events`` (one user's, in order) to ``state``; ``applied_ids`` are the ids of
    this batch that an earlier transaction already applied."""
    result = UserProjection(state)
    seen: set[str] = set()
    for event in events:
        if event.event_id in applied_ids or event.event_id in seen:
            result.skipped += 1
            continue
        check = check_sequence(result.state.last_sequence, event.data.sequence)
        if check.verdict is SequenceVerdict.ALREADY_APPLIED:
            result.skipped += 1
            continue
        if check.verdict is SequenceVerdict.GAP:
            result.gaps.append(
                SequenceGap(state.user_id, result.state.last_sequence + 1, event.data.sequence)
            )
        seen.add(event.event_id)
        transition = apply_event(result.state, event.data, rule)
        result.state = transition.state
        result.plays.extend(transition.plays)
        result.applied.append(event)
    return result
