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
    current = state
    plays = result.plays
    applied = result.applied
    for event in events:
        event_id = event.event_id
        if event_id in applied_ids or event_id in seen:
            result.skipped += 1
            continue
        # ``check_sequence``'s verdicts, inline: this runs for every event of every batch.
        last, sequence = current.last_sequence, event.data.sequence
        if sequence <= last:
            result.skipped += 1
            continue
        if sequence != last + 1:
            result.gaps.append(SequenceGap(state.user_id, last + 1, sequence))
        seen.add(event_id)
        transition = apply_event(current, event.data, rule)
        current = transition.state
        if transition.plays:
            plays.extend(transition.plays)
        applied.append(event)
    result.state = current
    return result
