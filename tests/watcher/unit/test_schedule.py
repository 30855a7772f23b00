"""The adaptive poll schedule."""

from __future__ import annotations

import pytest

from backbeat.watcher.domain.schedule import (
    PollIntervals,
    after_first_look_delay,
    first_poll_delay,
    next_poll_delay,
)
from tests.watcher.unit.helpers import T0, nothing, playing, track

INTERVALS = PollIntervals(
    active_s=5, near_end_margin_s=0.5, paused_s=15, idle_s=30, long_idle_s=60, jitter=0.1
)


@pytest.mark.parametrize("spread", [0.0, 0.5, 0.999])
def test_a_playing_track_is_polled_within_the_active_interval_never_later(spread: float) -> None:
    delay = next_poll_delay(INTERVALS, playing(0, track(1), 30), T0, spread)
    assert 4.5 <= delay <= 5.0


@pytest.mark.parametrize("spread", [0.0, 0.999])
def test_the_poll_lands_just_after_the_predicted_end_of_the_track(spread: float) -> None:
    delay = next_poll_delay(INTERVALS, playing(0, track(1), 198), T0, spread)
    assert 2.5 <= delay <= 3.0


def test_paused_idle_and_long_idle_users_are_polled_ever_less_often() -> None:
    paused = next_poll_delay(INTERVALS, playing(0, track(1), 30, is_playing=False), T0, 0.5)
    idle = next_poll_delay(INTERVALS, nothing(120), T0, 0.5)
    long_idle = next_poll_delay(INTERVALS, nothing(3600), T0, 0.5)
    assert (paused, idle, long_idle) == (15, 30, 60)


def test_the_fixed_schedule_ignores_what_the_player_does() -> None:
    fixed = PollIntervals(active_s=5, jitter=0.0, adaptive=False)
    for snapshot in (playing(0, track(1), 198), nothing(3600)):
        assert next_poll_delay(fixed, snapshot, T0, 0.3) == 5


# -- the first poll of a user this instance starts watching ---------------------------------

NOW_MS = T0 + 600_000


def test_a_restored_user_is_first_polled_where_its_schedule_left_off() -> None:
    # Idle, last seen 20 s ago by the previous owner: due 10 s from now (30 s interval, no
    # jitter at spread 0.5), not at once.
    last_seen = nothing(600 - 20)
    delay = first_poll_delay(INTERVALS, last_seen, T0, NOW_MS, 0.5)
    assert delay == pytest.approx(10.0)


def test_a_restored_player_is_polled_within_its_active_interval_of_the_last_observation() -> None:
    last_seen = playing(600 - 2, track(1), 30)
    for spread in (0.0, 0.5, 0.999):
        delay = first_poll_delay(INTERVALS, last_seen, T0, NOW_MS, spread)
        assert 2.5 <= delay <= 3.0


def test_users_overdue_after_a_takeover_are_spread_over_their_tier_interval() -> None:
    # The previous owner died 40 s ago: every player is overdue. Spread over the 5 s active
    # interval, not all due now; idle users over their own interval.
    players = [
        first_poll_delay(INTERVALS, playing(600 - 40, track(1), 30), T0, NOW_MS, n / 100)
        for n in range(100)
    ]
    assert min(players) == 0.0 and max(players) == pytest.approx(4.95)
    assert sum(1 for d in players if d < 1.0) == 20
    long_ago = T0 - 3_600_000
    idle = [
        first_poll_delay(INTERVALS, nothing(600 - 100), long_ago, NOW_MS, n / 100)
        for n in range(100)
    ]
    assert max(idle) == pytest.approx(59.4)
    assert sum(1 for d in idle if d < 6.0) == 10


def test_a_user_never_observed_is_spread_over_the_active_interval() -> None:
    delays = [first_poll_delay(INTERVALS, None, None, NOW_MS, n / 10) for n in range(10)]
    assert delays == pytest.approx([n * 0.5 for n in range(10)])


def test_a_viewed_user_is_first_polled_within_the_viewed_interval() -> None:
    overdue = first_poll_delay(INTERVALS, nothing(600 - 3600), T0, NOW_MS, 0.999, viewed=True)
    never = first_poll_delay(INTERVALS, None, None, NOW_MS, 0.999, viewed=True)
    assert overdue <= INTERVALS.viewed_idle_s
    assert never <= INTERVALS.viewed_active_s


def test_an_observation_from_a_clock_ahead_never_delays_the_first_poll_past_one_interval() -> None:
    from_the_future = nothing(600 + 300)
    delay = first_poll_delay(INTERVALS, from_the_future, T0, NOW_MS, 0.5)
    assert delay == pytest.approx(next_poll_delay(INTERVALS, from_the_future, T0, 0.5))


def test_idle_users_first_seen_together_are_next_polled_spread_over_their_whole_interval() -> None:
    # A cold start: everyone seen for the first time within a few seconds. Their next polls
    # cover the whole idle interval, not the fifth of it that jitter alone would.
    first_seen = nothing(0)
    delays = [after_first_look_delay(INTERVALS, first_seen, None, n / 100) for n in range(100)]
    assert min(delays) == INTERVALS.minimum_s and max(delays) == pytest.approx(59.4)
    assert sum(1 for d in delays if d < 30) == 50
    later = [next_poll_delay(INTERVALS, first_seen, None, n / 100) for n in range(100)]
    assert min(later) == pytest.approx(54.0)


def test_a_player_first_seen_is_polled_again_within_the_active_interval() -> None:
    snapshot = playing(0, track(1), 30)
    for spread in (0.0, 0.5, 0.999):
        assert after_first_look_delay(INTERVALS, snapshot, T0, spread) == next_poll_delay(
            INTERVALS, snapshot, T0, spread
        )
