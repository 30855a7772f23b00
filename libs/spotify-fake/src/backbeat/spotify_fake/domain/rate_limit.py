"""Spotify's rate limit: at most `limit` Web API calls per app in any rolling window."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class RollingWindowLimit:
    """Counts admitted calls per key; `limit=None` admits everything."""

    limit: int | None
    window_ms: int
    _calls: dict[str, deque[int]] = field(default_factory=dict)

    def admit(self, key: str, now_ms: int) -> int | None:
        """None when the call may go ahead (and is counted); else the Retry-After in seconds."""
        if self.limit is None:
            return None
        calls = self._calls.setdefault(key, deque())
        horizon = now_ms - self.window_ms
        while calls and calls[0] <= horizon:
            calls.popleft()
        if len(calls) >= self.limit:
            # Refused calls are not counted: the window frees up when its oldest call leaves.
            return max(1, math.ceil((calls[0] - horizon) / 1000))
        calls.append(now_ms)
        return None
