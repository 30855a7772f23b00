"""The per-app rate budget, per-user backoff, and the timer heap under the scheduler."""

from __future__ import annotations

from backbeat.watcher.domain.backoff import Backoff
from backbeat.watcher.domain.rate_budget import RateBudget, RateBudgets
from backbeat.watcher.domain.timers import TimerHeap


def test_the_budget_allows_a_burst_then_the_steady_rate() -> None:
    budget = RateBudget(rate_per_s=10, burst=5)
    assert [budget.try_take(0.0) for _ in range(6)] == [True] * 5 + [False]
    assert budget.ready_at(0.0) == 0.1
    assert budget.try_take(0.1)
    assert not budget.try_take(0.1)


def test_a_429_pauses_the_whole_budget_until_retry_after_then_resumes_gently() -> None:
    budget = RateBudget(rate_per_s=10, burst=20)
    budget.pause(1.0, 3.0)
    assert budget.paused(3.9)
    assert not budget.try_take(3.9)
    assert budget.ready_at(2.0) == 4.0
    # One call goes when the pause ends, then the bucket refills at the steady rate.
    assert budget.try_take(4.0)
    assert not budget.try_take(4.0)
    assert budget.try_take(4.1)


def test_each_spotify_app_has_its_own_budget() -> None:
    budgets = RateBudgets(rate_per_s=1, burst=1)
    budgets.of("app-a").pause(0.0, 60.0)
    assert budgets.of("app-b").try_take(1.0)
    assert not budgets.of("app-a").try_take(1.0)


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    backoff = Backoff(base_s=2, cap_s=30)
    assert backoff.delay_s(1, 0.0) == 1.0
    assert backoff.delay_s(1, 0.999) < 2.0
    assert backoff.delay_s(3, 0.999) <= 8.0
    assert 15.0 <= backoff.delay_s(10, 0.0) <= backoff.delay_s(10, 0.999) <= 30.0


def test_timers_pop_in_due_order_and_rescheduling_replaces_a_timer() -> None:
    timers: TimerHeap[str] = TimerHeap()
    timers.schedule("a", 3.0)
    timers.schedule("b", 1.0)
    timers.schedule("c", 2.0)
    timers.schedule("b", 5.0)
    timers.cancel("c")
    assert timers.next_due() == 3.0
    assert timers.pop_due(4.0) == [("a", 3.0)]
    assert timers.pop_due(10.0) == [("b", 5.0)]
    assert len(timers) == 0 and timers.next_due() is None


def test_a_budget_short_of_a_token_by_a_rounding_never_asks_to_wait_for_now() -> None:
    # At Unix-epoch magnitudes a fraction of a millisecond disappears in the float: the
    # budget must name a later moment, or a clock waiting for it never moves.
    now = 1_767_600_170.511
    budget = RateBudget(rate_per_s=10_000, burst=10_000)
    budget.tokens, budget.updated_at = 0.9992752075195312, now
    assert not budget.try_take(now)
    assert budget.ready_at(now) >= now + 0.001
    assert budget.try_take(budget.ready_at(now))


def test_a_second_call_charged_to_the_budget_delays_the_polls_after_it() -> None:
    budget = RateBudget(rate_per_s=10, burst=2)
    assert budget.try_take(0.0)
    assert budget.try_take(0.0)
    budget.charge(0.0)  # a catch-up read after a gap, beyond what the budget allowed
    assert not budget.try_take(0.1)
    # Two calls' worth of time to earn back the one overspent and the next one.
    assert budget.ready_at(0.1) >= 0.2 - 1e-9
    assert budget.try_take(0.2)
