"""One rate budget per Spotify app: a token bucket that all the app's users draw from.

Spotify limits calls per app over a rolling 30-second window and answers 429 with
Retry-After when the app goes over; a 429 therefore pauses the whole budget, not one user.
After a pause the bucket holds a single call, so polling resumes at the steady rate rather
than with a burst that would trip the limit again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# A whole token, give or take the rounding of adding up fractions of one.
_ONE = 1.0 - 1e-9
_MIN_WAIT_S = 0.001


@dataclass(slots=True)
class RateBudget:
    """``rate_per_s`` calls per second on average, up to ``burst`` at once. Times are seconds
    on the scheduler's clock."""

    rate_per_s: float
    burst: float
    tokens: float = field(init=False)
    updated_at: float | None = None
    paused_until: float = 0.0

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def _refill(self, now: float) -> None:
        if self.updated_at is None:
            self.updated_at = now
            return
        # Nothing accrues while paused.
        start = max(self.updated_at, self.paused_until)
        if now > start:
            self.tokens = min(self.burst, self.tokens + (now - start) * self.rate_per_s)
        self.updated_at = max(self.updated_at, now)

    def try_take(self, now: float) -> bool:
        """Spend one call if the budget allows it now."""
        if now < self.paused_until:
            return False
        self._refill(now)
        if self.tokens >= _ONE:
            self.tokens = max(0.0, self.tokens - 1.0)
            return True
        return False

    def charge(self, now: float) -> None:
        """Spend one call that goes out whether or not the budget allows it now (a poll's
        second call, the recently-played read after a gap): the polls after it wait for it,
        so the app's average rate stays within the budget."""
        self._refill(now)
        self.tokens = max(-self.burst, self.tokens - 1.0)

    def ready_at(self, now: float) -> float:
        """The earliest time ``try_take`` can succeed."""
        if now < self.paused_until:
            return self.paused_until
        self._refill(now)
        if self.tokens >= _ONE:
            return now
        # At least a millisecond later: at Unix-epoch magnitudes a smaller step can vanish in
        # the float's rounding, and a clock asked to wait for "now" again would never move.
        return now + max((1.0 - self.tokens) / self.rate_per_s, _MIN_WAIT_S)

    def pause(self, now: float, seconds: float) -> None:
        """Spotify said to wait (429 Retry-After): nothing goes out until then, and then one
        call goes first while the bucket refills at the steady rate."""
        self._refill(now)
        self.paused_until = max(self.paused_until, now + seconds)
        self.tokens = 1.0

    def paused(self, now: float) -> bool:
        return now < self.paused_until


@dataclass(slots=True)
class RateBudgets:
    """The budgets of every Spotify app the instance's users authorised."""

    rate_per_s: float
    burst: float
    budgets: dict[str, RateBudget] = field(default_factory=dict)

    def of(self, client_id: str) -> RateBudget:
        budget = self.budgets.get(client_id)
        if budget is None:
            budget = self.budgets[client_id] = RateBudget(self.rate_per_s, self.burst)
        return budget
