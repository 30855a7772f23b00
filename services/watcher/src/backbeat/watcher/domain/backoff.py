"""How long a user waits after a failed poll: doubling per consecutive failure up to a cap,
with jitter so that users who failed together do not retry together."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float = 2.0
    cap_s: float = 120.0

    def delay_s(self, failures: int, spread: float) -> float:
        """The wait after the ``failures``-th failure in a row; ``spread`` is uniform in
        [0, 1). Half the ceiling is fixed and half random ("equal jitter"), so a retry never
        comes right away."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** max(0, failures - 1))
        return ceiling * (0.5 + 0.5 * spread)
