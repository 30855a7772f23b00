"""Watcher processes sharing one Spotify app's budget, against the Spotify fake process on a
real clock: the calls of all instances stay within the app's budget through a rebalance,
and a 429 met by one instance pauses the others for its Retry-After."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from backbeat.runtime.testing import ServiceProcess, spotify_fake
from tests.watcher.integration.test_watcher_processes import (
    SESSION_TIMEOUT_S,
    Stack,
    long_tracks,
    metric,
    setup_users,
    wait_until,
)

pytestmark = pytest.mark.integration

# The app's budget for the whole deployment, and the fake's limit above it (18/s over a
# rolling 10 s window), as a deployment sizes its budget a little under Spotify's limit.
BUDGET_PER_S = 15.0
BUDGET_BURST = 3
FAKE_LIMIT = 180
FAKE_WINDOW_S = 10
# Calls per second are averaged over this window: the budget lets the whole burst out on
# top of the rate in any window, which over 10 s is 2 % of it.
WINDOW_S = 10.0


@dataclass
class SharedBudgetStack(Stack):
    overrides: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {**super().env(), **self.overrides}


@pytest.fixture
def limited_stack(kafka_bootstrap: str, unique: str) -> Iterator[SharedBudgetStack]:
    fake = spotify_fake(
        "--rate-limit", str(FAKE_LIMIT), "--rate-window-s", str(FAKE_WINDOW_S)
    ).start()
    stack = SharedBudgetStack(fake=fake, kafka_bootstrap=kafka_bootstrap, unique=unique)
    stack.overrides = {
        "BACKBEAT_WATCHER_RATE_BUDGET_PER_S": str(BUDGET_PER_S),
        "BACKBEAT_WATCHER_RATE_BUDGET_BURST": str(BUDGET_BURST),
        # Users polled late because the budget is short are not taken for gaps: every call
        # is a player read that the budget let out.
        "BACKBEAT_WATCHER_GAP_SLACK_S": "30",
    }
    try:
        yield stack
    finally:
        for watcher in stack.watchers:
            watcher.kill()
        fake.stop()
        if stack.tokens is not None:
            stack.tokens.__exit__()


@pytest.fixture
def unlimited_stack(kafka_bootstrap: str, unique: str) -> Iterator[SharedBudgetStack]:
    fake = spotify_fake("--rate-limit", "0").start()
    stack = SharedBudgetStack(fake=fake, kafka_bootstrap=kafka_bootstrap, unique=unique)
    try:
        yield stack
    finally:
        for watcher in stack.watchers:
            watcher.kill()
        fake.stop()
        if stack.tokens is not None:
            stack.tokens.__exit__()


def labelled(watcher: ServiceProcess, name: str, label: str) -> float:
    text = httpx.get(f"{watcher.url}/metrics", timeout=5).text
    match = re.search(rf"^{name}{{{label}}} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


class CallLog:
    """The fake's count of the app's Web API calls, sampled twice a second."""

    def __init__(self, http: httpx.AsyncClient, spotify_app: str) -> None:
        self.http = http
        self.spotify_app = spotify_app
        self.samples: list[tuple[float, int]] = []
        self.rate_limited = 0

    async def sample(self) -> None:
        stats = (await self.http.get("/_control/stats")).json()
        self.samples.append(
            (time.monotonic(), int(stats["web_api_calls"]["by_client"].get(self.spotify_app, 0)))
        )
        self.rate_limited = int(stats["rate_limited_by_client"].get(self.spotify_app, 0))

    async def run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(0.5)

    def windows(self, since: float, until: float) -> list[tuple[float, float]]:
        """(start, calls per second) over every ``WINDOW_S`` window in [since, until]."""
        inside = [(t, n) for t, n in self.samples if since <= t <= until]
        rates = []
        for i, (start, first) in enumerate(inside):
            for end, last in inside[i + 1 :]:
                if end - start >= WINDOW_S:
                    rates.append((start - since, (last - first) / (end - start)))
                    break
        return rates

    def mean_rate(self, since: float, until: float) -> float:
        inside = [(t, n) for t, n in self.samples if since <= t <= until]
        (t0, n0), (t1, n1) = inside[0], inside[-1]
        return (n1 - n0) / (t1 - t0)


async def test_three_instances_keep_the_app_within_its_budget_before_during_and_after_a_rebalance(
    limited_stack: SharedBudgetStack,
) -> None:
    stack = limited_stack
    async with httpx.AsyncClient(base_url=stack.fake.url, timeout=10) as http:
        # 30 listeners polled every second ask twice what the budget allows: it decides.
        users = await setup_users(stack, http, 30)
        (track,) = await long_tracks(http, 1)
        for user in users:
            await stack.play(http, user, track)
        calls = CallLog(http, stack.spotify_app)
        sampling = asyncio.create_task(calls.run())
        try:
            started = time.monotonic()
            watchers = [stack.start_watcher() for _ in range(3)]
            await wait_until(
                lambda: (
                    all(metric(w, "watcher_users_owned") > 0 for w in watchers)
                    and sum(metric(w, "watcher_users_owned") for w in watchers) == len(users)
                ),
                90,
            )
            shares_before = [metric(w, "watcher_rate_budget_share_per_s") for w in watchers]
            await asyncio.sleep(3)  # the last rebalance's effects settle: tokens are spent
            before = time.monotonic()
            await asyncio.sleep(20)
            doomed, *survivors = watchers
            doomed.kill()
            killed = time.monotonic()
            await wait_until(
                lambda: sum(metric(w, "watcher_users_owned") for w in survivors) == len(users),
                60,
            )
            taken_over = time.monotonic()
            shares_after = [metric(w, "watcher_rate_budget_share_per_s") for w in survivors]
            await asyncio.sleep(3)
            after = time.monotonic()
            await asyncio.sleep(20)
            end = time.monotonic()
        finally:
            sampling.cancel()
            await asyncio.gather(sampling, return_exceptions=True)
        await calls.sample()

    # Each instance spent its third, and each survivor half once it took the dead one's part.
    assert shares_before == [BUDGET_PER_S / 3] * 3
    assert shares_after == [BUDGET_PER_S / 2] * 2
    # From the first instance's start to the end, through three joins, a death and the
    # takeover: no 10 s window averages more than the budget (5 % allowed for the sampling).
    windows = calls.windows(started, end)
    assert len(windows) > 60
    worst = max(rate for _, rate in windows)
    assert worst <= BUDGET_PER_S * 1.05, windows
    # The budget was what limited the calls before and after (the users asked for twice
    # as many), so the bound above is the budget's doing, in both phases.
    assert calls.mean_rate(before, killed) >= BUDGET_PER_S * 0.85
    assert calls.mean_rate(after, end) >= BUDGET_PER_S * 0.85
    # Spotify (the fake) never had to say no.
    assert calls.rate_limited == 0
    assert taken_over - killed < SESSION_TIMEOUT_S + 20


async def test_a_429_met_by_one_instance_pauses_the_others_for_its_retry_after(
    unlimited_stack: SharedBudgetStack,
) -> None:
    stack = unlimited_stack
    async with httpx.AsyncClient(base_url=stack.fake.url, timeout=10) as http:
        users = await setup_users(stack, http, 12)
        (track,) = await long_tracks(http, 1)
        for user in users:
            await stack.play(http, user, track)
        watchers = [stack.start_watcher() for _ in range(3)]
        await wait_until(
            lambda: (
                all(metric(w, "watcher_users_owned") > 0 for w in watchers)
                and sum(metric(w, "watcher_users_owned") for w in watchers) == len(users)
            ),
            90,
        )

        def polls(watcher: ServiceProcess) -> float:
            return labelled(watcher, "watcher_polls_total", 'outcome="ok"')

        async def app_calls() -> int:
            stats = (await http.get("/_control/stats")).json()
            return int(stats["web_api_calls"]["by_client"].get(stack.spotify_app, 0))

        # Every instance is polling its users.
        first = [polls(w) for w in watchers]
        await wait_until(
            lambda: all(polls(w) > n + 2 for w, n in zip(watchers, first, strict=True)), 30
        )

        # The next player read, whichever instance makes it, answers 429 "Retry-After: 6".
        fault = await http.post(
            "/_control/faults",
            json={"endpoint": "player", "kind": "rate_limit", "retry_after_s": 6, "count": 1},
        )
        fault.raise_for_status()
        await wait_until(
            lambda: sum(metric(w, "watcher_rate_limited_total") for w in watchers) >= 1,
            10,
            step_s=0.1,
        )
        met_at = time.monotonic()
        (met,) = [w for w in watchers if metric(w, "watcher_rate_limited_total") >= 1]
        others = [w for w in watchers if w is not met]

        await asyncio.sleep(1 - (time.monotonic() - met_at))  # the pause reaches them
        during = [polls(w) for w in others]
        calls_during = await app_calls()
        await asyncio.sleep(4.5 - (time.monotonic() - met_at))
        still = [polls(w) for w in others]
        calls_still = await app_calls()
        honoured = [metric(w, "watcher_rate_pauses_honoured_total") for w in others]
        # After Retry-After (and the tolerance for clock skew) everyone polls again.
        await wait_until(
            lambda: all(polls(w) > n + 3 for w, n in zip(others, still, strict=True)), 30
        )
        resumed_after_s = time.monotonic() - met_at

    # The instances that never met the 429 made no call for the rest of its Retry-After.
    assert still == during
    assert calls_still == calls_during
    assert honoured == [1.0, 1.0]
    # ... and not for much longer than it (6 s, plus 1 s of clock-skew tolerance).
    assert resumed_after_s < 6 + 1 + 5
