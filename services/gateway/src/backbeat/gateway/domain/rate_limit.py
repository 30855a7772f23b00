"""Rate limits as GCRA (the generic cell rate algorithm, a token bucket kept as one timestamp).

Each key (a user id, a client address) has a theoretical arrival time ``tat``: the moment its
bucket would be full again. A request at ``now`` is allowed while ``tat - now`` stays within
the burst tolerance; each allowed request pushes ``tat`` one emission interval (``1 / rate``)
further. One float per key, no background refill, and the exact wait is known on refusal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rate_per_s`` sustained, with bursts of up to ``burst`` requests at once."""

    rate_per_s: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate_per_s <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")

    @property
    def emission_interval_s(self) -> float:
        return 1.0 / self.rate_per_s

    @property
    def tolerance_s(self) -> float:
        return self.emission_interval_s * (self.burst - 1)


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    # Seconds until a request would be allowed (0 when allowed).
    retry_after_s: float
    # Requests that could still be made right now.
    remaining: int

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` in whole seconds, never 0 for a refusal (clients would spin)."""
        return str(max(1, math.ceil(self.retry_after_s)))


class GcraLimiter:
    """In-memory GCRA over many keys; the caller passes the clock reading.

    At most ``max_keys`` keys are kept: keys whose bucket is full again carry no state and are
    dropped first; past that the least recently used go (down to nine tenths of the cap, so
    the sweep is paid once per many requests), which can only make the limiter more lenient,
    never refuse someone wrongly.
    """

    def __init__(self, limit: RateLimit, *, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self._tat: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._tat)

    def check(self, key: str, now: float) -> Verdict:
        """Admit or refuse one request for ``key`` at ``now`` (seconds, monotonic)."""
        interval = self.limit.emission_interval_s
        tolerance = self.limit.tolerance_s
        tat = max(self._tat.get(key, now), now)
        ahead = tat - now
        # A nanosecond of slack: float sums of intervals (0.1 + 0.1 + ...) must not refuse a
        # request that arrives exactly on time.
        if ahead > tolerance + 1e-9:
            return Verdict(False, ahead - tolerance, 0)
        self._tat.pop(key, None)  # re-inserted last: dict order is then oldest use first
        self._tat[key] = tat + interval
        if len(self._tat) > self.max_keys:
            self._evict(now)
        # Rounded so that float error (0.1 + 0.1 + ...) never hides a whole request.
        remaining = math.floor(round((tolerance - ahead) / interval, 9))
        return Verdict(True, 0.0, remaining)

    def _evict(self, now: float) -> None:
        for key in [k for k, tat in self._tat.items() if tat <= now]:
            del self._tat[key]
        keep = self.max_keys * 9 // 10
        while len(self._tat) > keep:
            del self._tat[next(iter(self._tat))]
