"""Waiting on infrastructure: an operation that fails with an infrastructure error is tried
again after a doubling wait (capped), each failure is reported before its wait, and any other
error goes straight through."""

from __future__ import annotations

import pytest

from backbeat.runtime.retry import retry_until_it_works


async def test_failures_are_retried_with_doubling_capped_waits_until_it_works() -> None:
    calls, reported = [], []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) <= 4:
            raise ConnectionRefusedError("down")
        return "up"

    async for attempt in retry_until_it_works(
        (OSError,),
        first_s=0.001,
        max_s=0.004,
        on_retry=lambda error, wait: reported.append((type(error).__name__, wait)),
    ):
        with attempt:
            result = await flaky()
    assert result == "up"
    assert len(calls) == 5
    assert reported == [
        ("ConnectionRefusedError", 0.001),
        ("ConnectionRefusedError", 0.002),
        ("ConnectionRefusedError", 0.004),
        ("ConnectionRefusedError", 0.004),
    ]


async def test_an_error_it_was_not_told_to_wait_for_goes_straight_through() -> None:
    calls, reported = [], []

    async def broken() -> None:
        calls.append(1)
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError, match="a bug"):
        async for attempt in retry_until_it_works(
            (OSError,),
            first_s=0.001,
            max_s=0.01,
            on_retry=lambda error, wait: reported.append(error),
        ):
            with attempt:
                await broken()
    assert (len(calls), reported) == (1, [])
