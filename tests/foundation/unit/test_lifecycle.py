"""One composition pattern for every service: parts start in the order they were declared
and stop in the reverse; a part stops only if it started; every stop runs even when another
failed; a start that fails stops what had started; background tasks end with the service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from backbeat.runtime.lifecycle import Lifecycle


def recorder(log: list[str], name: str, *, fail: bool = False) -> Callable[[], Awaitable[None]]:
    async def act() -> None:
        log.append(name)
        if fail:
            raise RuntimeError(name)

    return act


async def test_parts_start_in_order_and_stop_in_reverse() -> None:
    log: list[str] = []
    life = Lifecycle()
    life.closes(recorder(log, "close database"))
    life.starts(recorder(log, "start feed"), recorder(log, "stop feed"))
    life.starts(lambda: log.append("freeze"), lambda: log.append("unfreeze"))

    @asynccontextmanager
    async def consuming() -> AsyncIterator[None]:
        log.append("enter consumers")
        yield
        log.append("leave consumers")

    life.enters(consuming)
    async with life.lifespan():
        log.append("serving")
    assert log == [
        "start feed",
        "freeze",
        "enter consumers",
        "serving",
        "leave consumers",
        "unfreeze",
        "stop feed",
        "close database",
    ]


async def test_every_stop_runs_when_one_fails_and_the_failure_is_raised() -> None:
    log: list[str] = []
    life = Lifecycle()
    life.closes(recorder(log, "close database"))
    life.starts(recorder(log, "start feed"), recorder(log, "stop feed", fail=True))
    life.starts(recorder(log, "start relay"), recorder(log, "stop relay"))
    with pytest.raises(RuntimeError, match="stop feed"):
        async with life.lifespan():
            pass
    assert log == ["start feed", "start relay", "stop relay", "stop feed", "close database"]


async def test_a_failed_start_stops_only_what_started_before_it() -> None:
    log: list[str] = []
    life = Lifecycle()
    life.closes(recorder(log, "close database"))
    life.starts(recorder(log, "start feed"), recorder(log, "stop feed"))
    life.starts(recorder(log, "start consumers", fail=True), recorder(log, "stop consumers"))
    life.starts(recorder(log, "start relay"), recorder(log, "stop relay"))
    with pytest.raises(RuntimeError, match="start consumers"):
        async with life.lifespan():
            log.append("serving")
    assert log == ["start feed", "start consumers", "stop feed", "close database"]


async def test_a_background_task_runs_while_serving_and_is_cancelled_on_stop() -> None:
    running = asyncio.Event()
    cancelled = asyncio.Event()

    async def relay() -> None:
        running.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    life = Lifecycle()
    life.runs("relay", relay)
    async with life.lifespan():
        await asyncio.wait_for(running.wait(), 1)
        assert not cancelled.is_set()
    assert cancelled.is_set()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "relay"]


async def test_a_part_built_at_start_is_started_handed_over_and_stopped() -> None:
    log: list[str] = []

    class Tail:
        def __init__(self) -> None:
            # Built while the service starts, inside the running event loop.
            asyncio.get_running_loop()
            log.append("built")

        async def start(self) -> None:
            log.append("started")

        async def stop(self) -> None:
            log.append("stopped")

    kept: list[Tail] = []
    life = Lifecycle()
    life.closes(recorder(log, "close database"))
    life.builds(Tail, started=kept.append)
    assert log == []
    async with life.lifespan():
        assert log == ["built", "started"]
        assert len(kept) == 1
    assert log == ["built", "started", "stopped", "close database"]
