"""The rule that decides whether a stretch of listening to a track is a play in the history."""

from __future__ import annotations

from dataclasses import dataclass

# Last.fm's scrobbling rule, which listeners already know: half the track or four minutes.
DEFAULT_MIN_FRACTION = 0.5
DEFAULT_ENOUGH_MS = 4 * 60 * 1000


@dataclass(frozen=True, slots=True)
class PlayRule:
    """A track counts as played once the user has listened to ``min_fraction`` of it or to
    ``enough_ms`` of it, whichever comes first.

    Listening means audio that played: paused time is not listening, and a seek forward does
    not count the part that was skipped over (see ``listening.apply_event``). A track of
    unknown length (duration 0) needs ``enough_ms``. Nothing listened is never a play.
    """

    min_fraction: float = DEFAULT_MIN_FRACTION
    enough_ms: int = DEFAULT_ENOUGH_MS

    def __post_init__(self) -> None:
        if not 0 < self.min_fraction <= 1:
            raise ValueError("min_fraction must be in (0, 1]")
        if self.enough_ms <= 0:
            raise ValueError("enough_ms must be positive")

    def required_ms(self, duration_ms: int) -> int:
        """Milliseconds of listening that make a track of ``duration_ms`` a play."""
        if duration_ms <= 0:
            return self.enough_ms
        return max(1, min(round(duration_ms * self.min_fraction), self.enough_ms))

    def is_play(self, listened_ms: int, duration_ms: int) -> bool:
        return listened_ms >= self.required_ms(duration_ms)
