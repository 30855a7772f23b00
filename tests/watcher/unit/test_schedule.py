"""The adaptive poll schedule."""

from __future__ import annotations

import pytest

from backbeat.watcher.domain.schedule import PollIntervals, next_poll_delay
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
