"""The scheduler's sense of time: monotonic seconds for due times, wall-clock milliseconds for
what an event says it observed, and a way to wait for the next due time or a wake-up."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a clock that never goes back; due times are on it."""
        ...

    def wall_ms(self) -> int:
        """Unix milliseconds: when an observation happened."""
        ...

    async def wait(self, deadline: float | None, wake: asyncio.Event, idle: bool) -> None:
        """Return at ``deadline`` (None: no deadline) or as soon as ``wake`` is set.
        ``idle`` says no poll is in flight (a simulated clock moves only then)."""
        ...


class RealClock:
    def now(self) -> float:
        return time.monotonic()

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def wait(self, deadline: float | None, wake: asyncio.Event, idle: bool) -> None:
        timeout = None if deadline is None else max(0.0, deadline - self.now())
        # asyncio.timeout rather than wait_for: on 3.11 wait_for can swallow a cancellation
        # that arrives as the event is set, and the scheduler would never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await wake.wait()
