"""One app's budget shared by watcher instances in proportion to the partitions they own, and
429 pauses passed between them, without Kafka: the calls every instance's budget lets out
are counted on one simulated timeline."""

from __future__ import annotations

import asyncio

from backbeat.watcher.consumers.budget_share import (
    OwnedBudgetShare,
    RatePauseChannel,
    RatePauseRecord,
)
from backbeat.watcher.domain.budget_share import (
    AppPause,
    owned_share,
    pause_for,
    remaining_pause_s,
)
from backbeat.watcher.domain.rate_budget import RateBudget, RateBudgets
from backbeat.watcher.workers.metrics import WatcherMetrics

APP = "app-1"
BUDGET = 12.0
PARTITIONS = 12


class StepClock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def now(self) -> float:
        return self.t

    def wall_ms(self) -> int:
        return int(self.t * 1000)

    async def wait(self, deadline: float | None, wake: asyncio.Event, idle: bool) -> None:
        return


def test_an_instance_spends_the_share_of_the_budget_its_partitions_are_of_all() -> None:
    assert owned_share(4, 12) == 1 / 3
    assert owned_share(0, 12) == 0.0
    assert owned_share(12, 12) == 1.0
    budgets = RateBudgets(rate_per_s=BUDGET, burst=6, share=0.25)
    assert budgets.of(APP).rate_per_s == 3.0
    assert budgets.of(APP).burst == 1.5


def test_a_small_share_of_a_small_burst_still_lets_one_call_through() -> None:
    budgets = RateBudgets(rate_per_s=BUDGET, burst=2, share=1 / 12)
    assert budgets.of(APP).try_take(0.0)


def test_an_instance_that_owns_nothing_calls_nothing_and_is_asked_to_look_again_later() -> None:
    budgets = RateBudgets(rate_per_s=BUDGET, burst=6, share=0.0)
    budget = budgets.of(APP)
    assert not budget.try_take(0.0)
    assert not budget.try_take(100.0)
    assert budget.ready_at(100.0) > 100.0


def test_a_smaller_share_drops_the_tokens_above_it_and_a_larger_one_adds_none() -> None:
    budget = RateBudget(rate_per_s=12, burst=12)
    budget.try_take(0.0)
    budget.resize(0.0, rate_per_s=3, burst=3)
    assert budget.tokens == 3
    budget.resize(0.0, rate_per_s=12, burst=12)
    assert budget.tokens == 3  # the new part is earned at the new rate, not handed out
    assert [budget.try_take(0.0) for _ in range(4)] == [True, True, True, False]
    assert budget.ready_at(0.0) == 1 / 12


def run(
    instances: dict[str, OwnedBudgetShare],
    budgets: dict[str, RateBudgets],
    clock: StepClock,
    seconds: float,
    calls: list[float],
) -> None:
    """Every instance has more users due than its budget allows: each call it may make, it
    makes, in steps of a millisecond."""
    end = clock.t + seconds
    while clock.t < end:
        for name in instances:
            while budgets[name].of(APP).try_take(clock.t):
                calls.append(clock.t)
        clock.t = round(clock.t + 0.001, 6)


def most_in_any_second(calls: list[float]) -> int:
    calls.sort()
    most, start = 0, 0
    for end, t in enumerate(calls):
        while calls[start] <= t - 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_three_instances_stay_within_the_app_budget_through_a_rebalance_after_one_dies() -> None:
    clock = StepClock()
    metrics = WatcherMetrics()
    budgets = {n: RateBudgets(BUDGET, burst=3, share=0.0) for n in "abc"}
    shares = {n: OwnedBudgetShare(budgets[n], clock, metrics, PARTITIONS) for n in "abc"}
    for n, owned in zip("abc", ([0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]), strict=True):
        shares[n].taken(owned)
    calls: list[float] = []
    run(shares, budgets, clock, 10, calls)
    # c dies: its share is spent by nobody until the group reassigns its partitions. The
    # survivors give up all of theirs first (the eager protocol), then take six each.
    del shares["c"]
    run(shares, budgets, clock, 6, calls)
    shares["a"].releasing([0, 1, 2, 3])
    run(shares, budgets, clock, 0.3, calls)
    shares["b"].releasing([4, 5, 6, 7])
    run(shares, budgets, clock, 0.3, calls)
    shares["a"].taken([0, 1, 2, 3, 4, 5])
    run(shares, budgets, clock, 0.5, calls)
    shares["b"].taken([6, 7, 8, 9, 10, 11])
    after = len(calls)
    run(shares, budgets, clock, 10, calls)

    # The burst (3 at once for the whole app) is the most any second holds beyond the rate.
    assert most_in_any_second(calls) <= BUDGET + 3
    assert len(calls) <= BUDGET * 27.1 + 3
    # Once reassigned, the survivors spend the whole budget between them.
    assert len(calls) - after >= BUDGET * 10 - 2


def test_a_pause_read_from_another_instance_lasts_until_its_deadline_whatever_the_skew() -> None:
    pause = pause_for(APP, now_ms=1_000_000, retry_after_s=6)
    assert pause == AppPause(APP, 1_006_000, 6)
    # Clocks that agree: the rest of the wait plus the tolerance.
    assert remaining_pause_s(pause, 1_001_000, clock_skew_s=1) == 6
    # A reader whose clock runs 0.8 s ahead still waits until the real deadline.
    assert 1_001_000 + 1000 * remaining_pause_s(pause, 1_001_800, clock_skew_s=1) > 1_006_000
    # One far behind waits no longer than Retry-After and the tolerance.
    assert remaining_pause_s(pause, 900_000, clock_skew_s=1) == 7
    # A pause whose deadline passed (read at start-up from the compacted topic) is over.
    assert remaining_pause_s(pause, 1_006_001, clock_skew_s=1) == 0


async def test_a_429_met_by_another_instance_pauses_the_app_here_and_ones_own_are_skipped() -> None:
    clock = StepClock()
    budgets = RateBudgets(BUDGET, burst=3)
    channel = RatePauseChannel(
        "127.0.0.1:1",
        topic="unused",
        budgets=budgets,
        clock=clock,
        metrics=WatcherMetrics(),
        clock_skew_s=0.5,
    )

    def record(instance: str, retry_after_s: float) -> RatePauseRecord:
        return RatePauseRecord(
            spotify_app=APP,
            paused_until_ms=clock.wall_ms() + int(retry_after_s * 1000),
            retry_after_s=retry_after_s,
            instance=instance,
        )

    channel._honour(record(channel.instance, 5))  # what it publishes itself comes back
    assert budgets.of(APP).try_take(clock.t)
    channel._honour(record("another", 5))
    assert not budgets.of(APP).try_take(clock.t + 5.4)
    assert budgets.of(APP).try_take(clock.t + 5.5)
    assert not budgets.of("another-app").paused(clock.t)
