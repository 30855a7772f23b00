"""One rate budget per Spotify app: a token bucket that all the app's users draw from.

Spotify limits calls per app over a rolling 30-second window and answers 429 with
Retry-After when the app goes over; a 429 therefore pauses the whole budget, not one user.
After a pause the bucket holds a single call, so polling resumes at the steady rate rather
than with a burst that would trip the limit again.

The app's budget is one number for the whole deployment; an instance draws on its share of
it (see ``budget_share``), and a share that changes resizes every bucket without ever
handing out more than the new share allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# A whole token, give or take the rounding of adding up fractions of one.
_ONE = 1.0 - 1e-9
_MIN_WAIT_S = 0.001
# A budget with no share (the instance owns nothing) looks again this often.
_NO_SHARE_RECHECK_S = 1.0


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
        if self.rate_per_s <= 0:
            return now + _NO_SHARE_RECHECK_S
        # At least a millisecond later: at Unix-epoch magnitudes a smaller step can vanish in
        # the float's rounding, and a clock asked to wait for "now" again would never move.
        return now + max((1.0 - self.tokens) / self.rate_per_s, _MIN_WAIT_S)

    def pause(self, now: float, seconds: float) -> None:
        """Spotify said to wait (429 Retry-After): nothing goes out until then, and then one
        call goes first while the bucket refills at the steady rate."""
        self._refill(now)
        self.paused_until = max(self.paused_until, now + seconds)
        self.tokens = min(1.0, self.burst)

    def paused(self, now: float) -> bool:
        return now < self.paused_until

    def resize(self, now: float, rate_per_s: float, burst: float) -> None:
        """A new share of the app's budget from ``now``. What accrued so far accrued at the
        old rate; a smaller burst drops the tokens above it (they belonged to the share given
        up), and a larger one adds none: the share taken over may have just been spent by
        its previous holder, so it is earned at the new rate from now on."""
        self._refill(now)
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.tokens = min(self.tokens, burst)


def share_burst(burst: float, share: float) -> float:
    """An instance's part of the app's burst: proportional to its share, but at least one
    call while it has any share, or a small share of a small burst could never fill a token
    and its users would never be polled."""
    if share <= 0:
        return 0.0
    return max(1.0, burst * share)


@dataclass(slots=True)
class RateBudgets:
    """The budgets of every Spotify app the instance's users authorised. ``rate_per_s`` and
    ``burst`` are each app's whole budget; ``share`` is the fraction of it this instance
    may spend (1.0 for an instance alone)."""

    rate_per_s: float
    burst: float
    share: float = 1.0
    budgets: dict[str, RateBudget] = field(default_factory=dict)

    def of(self, client_id: str) -> RateBudget:
        budget = self.budgets.get(client_id)
        if budget is None:
            budget = self.budgets[client_id] = RateBudget(
                self.rate_per_s * self.share, share_burst(self.burst, self.share)
            )
        return budget

    def set_share(self, share: float, now: float) -> None:
        """Resize every app's budget to ``share`` of the whole, from ``now``."""
        self.share = share
        for budget in self.budgets.values():
            budget.resize(now, self.rate_per_s * share, share_burst(self.burst, share))

    @property
    def share_rate_per_s(self) -> float:
        """Calls per second this instance may make to each app."""
        return self.rate_per_s * self.share
