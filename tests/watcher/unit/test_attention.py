"""Attention-driven polling: who is viewed (presence with expiry), the viewed tiers of the
schedule, and viewed users first when the budget is short."""

from __future__ import annotations

import pytest

from backbeat.events.playback import PlaybackEventKind
from backbeat.watcher.domain.attention import PresenceReport, ViewerBoard
from backbeat.watcher.domain.schedule import (
    PollIntervals,
    longest_interval_s,
    next_poll_delay,
    viewed_first,
)
from backbeat.watcher.domain.snapshot import RecentPlay
from backbeat.watcher.domain.timeline import WatchState, catch_up_cursor, needs_catch_up, observe
from tests.watcher.unit.helpers import T0, nothing, playing, track

DEFAULTS = PollIntervals()


def seen(user: str, instance: str, streams: int, until_ms: int) -> PresenceReport:
    return PresenceReport(user, instance, streams, until_ms)


def test_opening_the_first_stream_makes_a_user_viewed_once() -> None:
    board = ViewerBoard()
    assert not board.viewed("u1", T0)
    assert board.report(seen("u1", "pb-1", 1, T0 + 30_000), T0)  # just opened: poll now
    assert board.viewed("u1", T0 + 1_000)
    # A second tab, or another instance: still viewed, and no second "just opened".
    assert not board.report(seen("u1", "pb-1", 2, T0 + 30_000), T0 + 1_000)
    assert not board.report(seen("u1", "pb-2", 1, T0 + 30_000), T0 + 1_000)


def test_a_user_stays_viewed_while_any_instance_holds_a_stream() -> None:
    board = ViewerBoard()
    board.report(seen("u1", "pb-1", 1, T0 + 30_000), T0)
    board.report(seen("u1", "pb-2", 1, T0 + 30_000), T0)
    board.report(seen("u1", "pb-1", 0, T0 + 30_000), T0 + 5_000)  # closed on pb-1
    assert board.viewed("u1", T0 + 5_000)
    board.report(seen("u1", "pb-2", 0, T0 + 30_000), T0 + 6_000)  # and on pb-2
    assert not board.viewed("u1", T0 + 6_000)
    assert len(board) == 0


def test_the_viewers_of_a_crashed_instance_fade_out_when_their_entries_expire() -> None:
    board = ViewerBoard()
    board.report(seen("u1", "crashed", 1, T0 + 30_000), T0)
    board.report(seen("u2", "alive", 1, T0 + 30_000), T0)
    board.report(seen("u2", "alive", 1, T0 + 50_000), T0 + 20_000)  # refreshed; "crashed" not
    assert board.viewed("u1", T0 + 29_999)
    assert not board.viewed("u1", T0 + 30_000)
    assert board.expire(T0 + 30_000) == ["u1"]
    assert board.viewed("u2", T0 + 30_000)
    # A record already expired when it arrives (read late, from the topic's start) counts not.
    assert not board.report(seen("u3", "old", 1, T0 - 1), T0)
    assert not board.viewed("u3", T0)


@pytest.mark.parametrize("spread", [0.0, 0.5, 0.999])
def test_a_viewed_user_is_polled_about_every_second_while_playing(spread: float) -> None:
    delay = next_poll_delay(DEFAULTS, playing(0, track(1), 30), T0, spread, viewed=True)
    assert 0.9 <= delay <= 1.1


def test_viewed_paused_and_idle_users_are_polled_a_little_slower_but_in_seconds() -> None:
    paused = playing(0, track(1), 30, is_playing=False)
    assert next_poll_delay(DEFAULTS, paused, T0, 0.5, viewed=True) == 2.0
    assert next_poll_delay(DEFAULTS, nothing(3600), T0, 0.5, viewed=True) == 1.5
    assert next_poll_delay(DEFAULTS, nothing(3600), None, 0.999, viewed=True) <= 1.65


def test_an_idle_user_nobody_views_is_polled_about_once_a_minute_or_rarer() -> None:
    assert next_poll_delay(DEFAULTS, nothing(120), T0, 0.5) == 60.0
    assert next_poll_delay(DEFAULTS, nothing(3600), T0, 0.5) == 120.0


def test_the_gap_rules_use_the_unviewed_intervals_the_longest_there_are() -> None:
    for snapshot in (playing(0, track(1), 30), nothing(120)):
        for spread in (0.0, 0.999):
            viewed = next_poll_delay(DEFAULTS, snapshot, T0, spread, viewed=True)
            assert viewed <= longest_interval_s(DEFAULTS, snapshot, T0)


def test_the_fixed_schedule_ignores_who_is_viewed() -> None:
    fixed = PollIntervals(active_s=5, jitter=0.0, adaptive=False)
    assert next_poll_delay(fixed, nothing(3600), T0, 0.3, viewed=True) == 5


def test_viewed_users_go_first_and_the_rest_keep_their_due_order() -> None:
    due = [("a", 1.0), ("v1", 2.0), ("b", 3.0), ("v2", 4.0), ("c", 5.0)]
    ordered = viewed_first(due, lambda user: user.startswith("v"))
    assert ordered == [("v1", 2.0), ("v2", 4.0), ("a", 1.0), ("b", 3.0), ("c", 5.0)]
    assert viewed_first(due, lambda _: False) == due


def test_an_idle_spell_is_settled_from_where_it_began_once_the_player_is_alive() -> None:
    # Idle polls a minute apart read the player only, and keep the spell's beginning.
    state = observe(WatchState("u1"), nothing(0)).state
    for at_s in (60, 120):
        assert not needs_catch_up(state, nothing(at_s), T0 - 1, DEFAULTS, 2_000)
        state = observe(state, nothing(at_s)).state
    assert state.unsettled_since_ms == T0
    assert catch_up_cursor(state, T0 - 1) == T0
    # Seen alive: recently-played from the spell's beginning shows a whole play between two
    # idle polls; it is published once, backfilled, before the one that plays now.
    now = playing(150, track(2), 10)
    assert needs_catch_up(state, now, T0 - 1, DEFAULTS, 2_000)
    hidden = RecentPlay(track(1, duration_ms=45_000), T0 + 100_000, None)
    observation = observe(state, now, [hidden])
    starts = [e for e in observation.events if e.kind is PlaybackEventKind.TRACK_STARTED]
    assert [(e.track.id if e.track else None, e.backfilled) for e in starts] == [
        ("t1", True),
        ("t2", False),
    ]
    assert observation.state.unsettled_since_ms is None
    assert catch_up_cursor(observation.state, T0 - 1) == T0 + 150_000


def test_an_idle_spell_is_settled_at_the_latest_after_the_settle_interval() -> None:
    state = observe(WatchState("u1"), nothing(0)).state
    for at_s in range(120, 900, 120):  # long idle: a poll every two minutes, player only
        assert not needs_catch_up(state, nothing(at_s), T0 - 1, DEFAULTS, 2_000)
        state = observe(state, nothing(at_s)).state
    assert needs_catch_up(state, nothing(960), T0 - 1, DEFAULTS, 2_000)
    # And a gap longer than the idle interval (a restart) is settled at once, as before.
    fresh = observe(WatchState("u1"), nothing(0)).state
    assert needs_catch_up(fresh, nothing(300), T0 - 1, DEFAULTS, 2_000)
