"""The per-user timeline: sequence numbers, listening measured, and catch-up after a gap."""

from __future__ import annotations

from backbeat.events.playback import PlaybackEventData
from backbeat.events.playback import PlaybackEventKind as Kind
from backbeat.watcher.domain.schedule import PollIntervals
from backbeat.watcher.domain.snapshot import PlaybackSnapshot, RecentPlay
from backbeat.watcher.domain.timeline import (
    WatchState,
    catch_up_cursor,
    needs_catch_up,
    observe,
)
from tests.watcher.unit.helpers import T0, nothing, playing, track

A, B, C, D = track(1), track(2), track(3), track(4)
INTERVALS = PollIntervals()
SLACK_MS = 2_000


def run(
    snapshots: list[PlaybackSnapshot], state: WatchState | None = None
) -> tuple[WatchState, list[PlaybackEventData]]:
    state = state or WatchState("u1")
    events: list[PlaybackEventData] = []
    for snapshot in snapshots:
        observation = observe(state, snapshot)
        state = observation.state
        events += observation.events
    return state, events


def summary(events: list[PlaybackEventData]) -> list[tuple[str, str | None, bool]]:
    return [(e.kind.value, e.track.id if e.track else None, e.backfilled) for e in events]


def test_sequence_numbers_run_on_from_one_per_user_across_observations() -> None:
    state, events = run(
        [playing(0, A, 10), playing(5, A, 15, is_playing=False), playing(20, A, 15)]
    )
    state, more = run([playing(25, B, 1), nothing(30)], state)
    assert [e.sequence for e in events + more] == [1, 2, 3, 4, 5, 6, 7]
    assert state.sequence == 7
    assert {e.user_id for e in events + more} == {"u1"}


def test_listening_excludes_paused_time_and_the_part_skipped_by_a_seek() -> None:
    snapshots = [
        playing(0, A, 0),
        playing(10, A, 10),
        playing(15, A, 15, is_playing=False),  # paused for a minute
        playing(75, A, 15, is_playing=False),
        playing(80, A, 20),
        playing(85, A, 100, changed_at_s=84),  # seeked forward 79 s
        playing(90, B, 2),
    ]
    _, events = run(snapshots)
    ended = [e for e in events if e.kind is Kind.TRACK_ENDED]
    assert len(ended) == 1
    assert ended[0].listened_ms is not None
    # 20 s before the seek, ~5 s after it, and at most the 5 s to the next observation.
    assert 25_000 <= ended[0].listened_ms <= 31_000


def test_a_restored_state_continuing_as_before_emits_nothing() -> None:
    state, _ = run([playing(0, A, 10)])
    _, events = run([playing(100, A, 110)], state)
    assert events == []


def test_catch_up_ends_the_open_play_once_and_recovers_the_gap_as_backfilled_pairs() -> None:
    state, live = run([playing(0, A, 50)])
    recent = [
        RecentPlay(A, T0 + 150_000),  # the play we saw begin, ended during the gap
        RecentPlay(B, T0 + 350_000),
        RecentPlay(C, T0 + 550_000),
    ]
    observation = observe(state, playing(600, D, 40), recent)
    assert summary(live) == [("track_started", "t1", False)]
    assert summary(observation.events) == [
        ("track_ended", "t1", True),
        ("track_started", "t2", True),
        ("track_ended", "t2", True),
        ("track_started", "t3", True),
        ("track_ended", "t3", True),
        ("track_started", "t4", False),
    ]
    b_start, b_end = observation.events[1], observation.events[2]
    assert b_start.observed_at.timestamp() * 1000 == T0 + 150_000
    assert b_end.listened_ms == 200_000
    assert [e.sequence for e in observation.events] == [2, 3, 4, 5, 6, 7]


def test_catch_up_ignores_plays_seen_before_the_cursor_and_after_the_snapshot() -> None:
    state, _ = run([playing(0, A, 50), playing(160, B, 5)])
    recent = [
        RecentPlay(A, T0 + 155_000),  # ended before the last observation: already published
        RecentPlay(B, T0 + 700_000),  # ends after the current snapshot: still playing in it
    ]
    observation = observe(state, playing(400, B, 245 - 0, is_playing=True), recent)
    assert [e.kind for e in observation.events if e.backfilled] == []


def test_an_unlisted_end_of_the_open_play_comes_before_the_recovered_plays() -> None:
    state, _ = run([playing(0, A, 10)])  # skipped soon after: too short to be listed
    observation = observe(state, nothing(900), [RecentPlay(B, T0 + 400_000)])
    assert summary(observation.events) == [
        ("track_ended", "t1", True),
        ("track_started", "t2", True),
        ("track_ended", "t2", True),
        ("stopped", None, False),
    ]
    times = [e.observed_at for e in observation.events]
    assert times == sorted(times)


def test_catch_up_is_needed_after_a_gap_longer_than_the_schedule_leaves_or_an_idle_spell() -> None:
    state, _ = run([playing(0, A, 10)])
    since = T0 - 5_000
    assert catch_up_cursor(state, connected_since_ms=since) == T0

    def needed(current: PlaybackSnapshot, from_state: WatchState = state) -> bool:
        return needs_catch_up(from_state, current, since, INTERVALS, SLACK_MS)

    # Playing: the active interval (5 s) plus the slack (2 s) is the most the schedule leaves.
    assert not needed(playing(5, A, 15))
    assert not needed(playing(7, A, 17))
    assert needed(playing(8, A, 18))
    # A 5xx burst's 50 s without a successful poll is a gap, far below the old 90 s.
    assert needed(playing(50, B, 1))
    idle, _ = run([nothing(0)])
    assert not needed(playing(25, B, 20), idle)
    assert needed(playing(45, B, 5), idle)
    assert not needed(nothing(60), idle)
    # A reconnection: plays from while the user was disconnected are not caught up.
    assert catch_up_cursor(state, connected_since_ms=T0 + 3_600_000) == T0 + 3_600_000
