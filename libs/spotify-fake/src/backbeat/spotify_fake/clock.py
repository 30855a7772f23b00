"""The fake's clock: manual (moves only when told) or real time that tests can fast-forward."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...

    def advance(self, ms: int) -> None: ...


class ManualClock:
    """Stands still until `advance` is called; what deterministic tests use."""

    def __init__(self, start_ms: int) -> None:
        self._now_ms = start_ms

    def now_ms(self) -> int:
        return self._now_ms

    def advance(self, ms: int) -> None:
        self._now_ms += ms


class RealClock:
    """Wall-clock time plus whatever has been fast-forwarded."""

    def __init__(self) -> None:
        self._offset_ms = 0

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self._offset_ms

    def advance(self, ms: int) -> None:
        self._offset_ms += ms
