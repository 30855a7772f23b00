"""Where an event's per-user sequence number stands against the last one applied."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SequenceVerdict(StrEnum):
    NEXT = "next"
    """Exactly the one after the last applied: apply it."""
    GAP = "gap"
    """Later than the next one: some events never arrived. Apply it and report the gap."""
    ALREADY_APPLIED = "already_applied"
    """At or before the last applied: a redelivery (or a replay under a new id). Skip it."""


@dataclass(frozen=True, slots=True)
class SequenceCheck:
    verdict: SequenceVerdict
    missing: int = 0
    """How many sequence numbers were skipped, for a gap."""


def check_sequence(last_applied: int, received: int) -> SequenceCheck:
    """Judge ``received`` against ``last_applied`` (0 when nothing was applied for the user)."""
    if received <= last_applied:
        return SequenceCheck(SequenceVerdict.ALREADY_APPLIED)
    if received == last_applied + 1:
        return SequenceCheck(SequenceVerdict.NEXT)
    return SequenceCheck(SequenceVerdict.GAP, missing=received - last_applied - 1)
