"""The simulated clock the watcher's simulation tests run on always reaches a timer's due time,
whatever float that time is."""

from __future__ import annotations

import asyncio
import math

from backbeat.spotify_fake.clock import ManualClock
from backbeat.watcher.testing import SimulatedClock, whole_ms_reaching

START_MS = 1_767_600_725_000  # a day in 2026, where seconds floats are 2.4e-7 s apart


def test_the_millisecond_reached_is_the_first_not_before_the_deadline() -> None:
    for ms in range(START_MS, START_MS + 20_000):
        # The deadline a hair (one float) above the millisecond: the first such millisecond
        # is the next one, though ceil(deadline * 1000) rounds back onto this one for some.
        deadline = math.nextafter(ms / 1000, math.inf)
        reached = whole_ms_reaching(deadline)
        assert reached / 1000 >= deadline, ms
        assert (reached - 1) / 1000 < deadline, ms
        assert whole_ms_reaching(ms / 1000) == ms


async def test_a_timer_a_hair_above_the_current_millisecond_comes_due() -> None:
    # 1767600725.097 is one of the times where ceil(deadline * 1000) gives the current ms.
    time = ManualClock(START_MS + 97)
    clock = SimulatedClock(time)
    clock.run_until(START_MS + 60_000)
    deadline = math.nextafter(clock.now(), math.inf)
    assert math.ceil(deadline * 1000) == time.now_ms()

    await asyncio.wait_for(clock.wait(deadline, asyncio.Event(), idle=True), 1)

    assert clock.now() >= deadline
    assert time.now_ms() == START_MS + 98
