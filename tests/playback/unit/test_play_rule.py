"""The play rule and how listening is measured over pauses, seeks and repeats."""

from __future__ import annotations

import pytest

from backbeat.playback.domain.listening import UserPlayback
from backbeat.playback.domain.play_rule import PlayRule
from backbeat.playback.domain.projection import project_user
from tests.playback.scenarios import Listener, track

RULE = PlayRule()


def plays_of(listener: Listener) -> list[tuple[str, int]]:
    """(track id, listened ms) of each play the events produce, in order."""
    result = project_user(UserPlayback(listener.user_id), listener.events, RULE)
    return [(play.track.id, play.listened_ms) for play in result.plays]


@pytest.mark.parametrize(
    ("listened_ms", "duration_ms", "counted"),
    [
        (100_000, 200_000, True),  # exactly half
        (99_999, 200_000, False),
        (240_000, 600_000, True),  # four minutes of a ten-minute track
        (239_999, 600_000, False),
        (0, 200_000, False),
        (240_000, 0, True),  # unknown length: four minutes
        (10_000, 0, False),
    ],
)
def test_half_the_track_or_four_minutes_whichever_comes_first(
    listened_ms: int, duration_ms: int, counted: bool
) -> None:
    assert RULE.is_play(listened_ms, duration_ms) is counted


def test_a_track_heard_to_the_end_is_one_play() -> None:
    listener = Listener("u").listen_through(track(1))
    assert plays_of(listener) == [("track-1", 200_000)]


def test_a_track_skipped_early_is_not_a_play() -> None:
    listener = Listener("u").start(track(1)).wait(30).start(track(2)).wait(200).end()
    assert plays_of(listener) == [("track-2", 200_000)]


def test_paused_time_does_not_count_as_listening() -> None:
    # 60 s heard, paused for an hour, 30 s more: 90 s of a 200 s track is not half.
    listener = (
        Listener("u")
        .start(track(1))
        .wait(60)
        .pause(60_000)
        .wait(3600)
        .resume(60_000)
        .wait(30)
        .pause(90_000)
        .wait(10)
        .stop()
    )
    assert plays_of(listener) == []


def test_listening_either_side_of_a_pause_adds_up_to_a_play() -> None:
    listener = (
        Listener("u")
        .start(track(1))
        .wait(60)
        .pause(60_000)
        .wait(600)
        .resume(60_000)
        .wait(50)
        .pause(110_000)
        .stop()
    )
    assert plays_of(listener) == [("track-1", 110_000)]


def test_seeking_forward_does_not_count_the_skipped_part() -> None:
    # 20 s heard, jump to 3:00, the last 20 s heard: 40 s of a 200 s track.
    listener = Listener("u").start(track(1)).wait(20).seek(180_000).wait(20).end()
    assert plays_of(listener) == []


def test_seeking_back_counts_the_part_heard_again() -> None:
    # 80 s heard, back to 0:10, 40 s more: 120 s listened.
    listener = Listener("u").start(track(1)).wait(80).seek(10_000).wait(40).pause(50_000).stop()
    assert plays_of(listener) == [("track-1", 120_000)]


def test_a_seek_while_paused_adds_no_listening() -> None:
    listener = (
        Listener("u")
        .start(track(1))
        .wait(50)
        .pause(50_000)
        .wait(100)
        .seek(150_000, playing=False)
        .wait(100)
        .resume(150_000)
        .wait(40)
        .pause(190_000)
        .stop()
    )
    assert plays_of(listener) == []  # 50 s + 40 s of 200 s


def test_a_repeated_track_is_a_new_play_each_time() -> None:
    song = track(7)
    listener = Listener("u").listen_through(song).listen_through(song).listen_through(song)
    assert plays_of(listener) == [("track-7", 200_000)] * 3


def test_a_track_replaced_without_an_end_event_is_closed_by_the_next_start() -> None:
    listener = Listener("u").start(track(1)).wait(150).start(track(2)).wait(10).stop()
    assert plays_of(listener) == [("track-1", 150_000)]


def test_wall_clock_past_the_end_of_the_track_is_not_listening() -> None:
    # The end was observed late: a 200 s track cannot have been heard for 500 s.
    listener = Listener("u").start(track(1)).wait(500).stop()
    assert plays_of(listener) == [("track-1", 200_000)]


def test_the_watchers_listened_figure_on_track_ended_wins() -> None:
    listener = Listener("u").start(track(1)).wait(200).end(listened_ms=90_000)
    assert plays_of(listener) == []
    listener = Listener("v").start(track(1)).wait(200).end(listened_ms=120_000)
    assert plays_of(listener) == [("track-1", 120_000)]


def test_a_long_track_counts_after_four_minutes() -> None:
    listener = Listener("u").start(track(1, duration_ms=20 * 60_000)).wait(245).stop()
    assert plays_of(listener) == [("track-1", 245_000)]


def test_a_track_ended_whose_start_was_lost_is_taken_on_the_watchers_word() -> None:
    listener = Listener("u").start(track(1)).wait(200).end()
    ended = listener.events[-1]
    only_the_end = [ended]
    result = project_user(UserPlayback("u"), only_the_end, RULE)
    assert [(p.track.id, p.listened_ms) for p in result.plays] == []  # no figure, no play
    listener = Listener("u").start(track(1)).wait(200).end(listened_ms=200_000)
    result = project_user(UserPlayback("u"), [listener.events[-1]], RULE)
    assert [(p.track.id, p.listened_ms) for p in result.plays] == [("track-1", 200_000)]
