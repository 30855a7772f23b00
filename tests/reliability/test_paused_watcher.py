"""A watcher instance frozen (SIGSTOP) for three session timeouts beside a second one: the
second takes every user over, and when the frozen one wakes it publishes nothing stale, so
every user's events stay one gap-free, repeat-free sequence."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import pytest

from tests.watcher.integration.test_watcher_processes import (
    SESSION_TIMEOUT_S,
    Stack,
    by_user,
    long_tracks,
    metric,
    setup_users,
    stack,  # noqa: F401 - the fixture, used by name
    wait_until,
)

pytestmark = pytest.mark.integration


async def test_a_watcher_paused_past_its_session_is_fenced_and_its_users_lose_and_repeat_nothing(
    stack: Stack,  # noqa: F811 - the fixture imported above
) -> None:
    async with httpx.AsyncClient(base_url=stack.fake.url, timeout=10) as http:
        users = await setup_users(stack, http, 12)
        first, second, third = await long_tracks(http, 3)
        for user in users:
            await stack.play(http, user, first)
        paused = stack.start_watcher()

        async def all_have(count: int) -> bool:
            timelines = by_user(await stack.events())
            return all(len(timelines.get(u, [])) >= count for u in users)

        await wait_until(lambda: all_have(1), 60)
        survivor = stack.start_watcher()
        await wait_until(lambda: 0 < metric(survivor, "watcher_users_owned") < len(users), 60)

        assert paused.process is not None
        paused.process.send_signal(signal.SIGSTOP)
        paused_at = time.monotonic()
        try:
            await wait_until(lambda: metric(survivor, "watcher_users_owned") == len(users), 60)
            takeover_s = time.monotonic() - paused_at
            # The users change track while the frozen instance still believes it owns half
            # of them.
            for user in users:
                await stack.play(http, user, second)
            await wait_until(lambda: all_have(3), 60)
            # The fault itself: frozen for three session timeouts in all, as on an
            # overloaded host.
            await asyncio.sleep(max(0.0, 3 * SESSION_TIMEOUT_S - (time.monotonic() - paused_at)))
        finally:
            paused.process.send_signal(signal.SIGCONT)
        resumed_at = time.monotonic()
        # Awake, it finds itself out of the group and lets go of its users (then rejoins);
        # whatever it had in hand before the pause is fenced.
        await wait_until(
            lambda: (
                metric(survivor, "watcher_users_owned") + metric(paused, "watcher_users_owned")
                == len(users)
            ),
            60,
        )
        let_go_s = time.monotonic() - resumed_at
        # A third change after the wake-up: its events stand behind any stray one the resumed
        # instance could have published, so reading them all shows every stray one too.
        for user in users:
            await stack.play(http, user, third)
        await wait_until(lambda: all_have(5), 60)

    timelines = by_user(await stack.events())
    for user in users:
        assert timelines[user] == [
            (1, "track_started", first),
            (2, "track_ended", first),
            (3, "track_started", second),
            (4, "track_ended", second),
            (5, "track_started", third),
        ], user
    print(f"\ntakeover after the pause {takeover_s:.1f} s; let go {let_go_s:.1f} s after waking")
    assert takeover_s < SESSION_TIMEOUT_S + 20
