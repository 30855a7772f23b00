"""Change detection between two observations of a player."""

from __future__ import annotations

from dataclasses import replace

from backbeat.events.playback import PlaybackEventKind as Kind
from backbeat.watcher.domain.changes import detect_changes
from backbeat.watcher.domain.snapshot import PlaybackSnapshot
from tests.watcher.unit.helpers import PHONE, T0, nothing, playing, track

A, B = track(1), track(2)


def kinds(previous: PlaybackSnapshot | None, current: PlaybackSnapshot) -> list[Kind]:
    return [change.kind for change in detect_changes(previous, current)]


def test_the_first_observation_of_a_playing_track_starts_it() -> None:
    assert kinds(None, playing(0, A, 30)) == [Kind.TRACK_STARTED]


def test_nothing_playing_at_first_or_still_says_nothing() -> None:
    assert kinds(None, nothing(0)) == []
    assert kinds(nothing(0), nothing(30)) == []


def test_a_track_playing_on_as_expected_is_no_change() -> None:
    assert kinds(playing(0, A, 30), playing(5, A, 35)) == []


def test_another_track_ends_the_previous_one_and_starts_the_new_one() -> None:
    changes = detect_changes(playing(0, A, 100), playing(5, B, 2))
    assert [(c.kind, c.track) for c in changes] == [
        (Kind.TRACK_ENDED, A),
        (Kind.TRACK_STARTED, B),
    ]


def test_pause_and_resume() -> None:
    assert kinds(playing(0, A, 30), playing(5, A, 33, is_playing=False)) == [Kind.PAUSED]
    assert kinds(playing(0, A, 33, is_playing=False), playing(60, A, 35)) == [Kind.RESUMED]


def test_a_pause_that_lasts_is_not_a_change() -> None:
    paused = playing(0, A, 33, is_playing=False)
    assert kinds(paused, playing(600, A, 33, is_playing=False)) == []


def test_seeks_forward_and_backward() -> None:
    assert kinds(playing(0, A, 30), playing(5, A, 120, changed_at_s=3)) == [Kind.SEEKED]
    assert kinds(playing(0, A, 120), playing(5, A, 60, changed_at_s=3)) == [Kind.SEEKED]


def test_a_seek_while_pausing_is_both() -> None:
    assert kinds(playing(0, A, 30), playing(5, A, 150, is_playing=False)) == [
        Kind.SEEKED,
        Kind.PAUSED,
    ]


def test_moving_to_another_device_mid_track() -> None:
    assert kinds(playing(0, A, 30), playing(5, A, 35, device=PHONE)) == [Kind.DEVICE_CHANGED]


def test_the_player_going_away_ends_the_track_and_stops() -> None:
    assert kinds(playing(0, A, 30), nothing(5)) == [Kind.TRACK_ENDED, Kind.STOPPED]


def test_repeat_one_coming_round_is_a_new_play_of_the_same_track() -> None:
    # 3 s before the end, then 2 s into the same track again.
    changes = detect_changes(playing(0, A, 197), playing(5, A, 2))
    assert [(c.kind, c.track) for c in changes] == [
        (Kind.TRACK_ENDED, A),
        (Kind.TRACK_STARTED, A),
    ]


def test_a_restart_from_the_beginning_is_a_new_play() -> None:
    # "Previous" at the top of a context restarts the track: position 0 at the state change.
    assert kinds(playing(0, A, 90), playing(5, A, 2, changed_at_s=3)) == [
        Kind.TRACK_ENDED,
        Kind.TRACK_STARTED,
    ]


def test_a_seek_to_just_after_the_start_is_a_seek_not_a_new_play() -> None:
    # Seeked to 0:04 two seconds ago: the state changed with the position at 4 s, not 0.
    assert kinds(playing(0, A, 90), playing(5, A, 6, changed_at_s=3)) == [Kind.SEEKED]


def test_a_cued_track_starts_only_when_it_plays() -> None:
    # Spotify parks a finished album on its first track, paused at 0:00.
    cued = playing(5, B, 0, is_playing=False)
    assert kinds(playing(0, A, 197), cued) == [Kind.TRACK_ENDED]
    assert kinds(cued, replace(cued, observed_at_ms=T0 + 20_000)) == []
    assert kinds(cued, playing(30, B, 3)) == [Kind.TRACK_STARTED]
    assert kinds(cued, nothing(30)) == [Kind.STOPPED]


def test_an_ad_between_tracks_ends_one_and_starts_the_next() -> None:
    ad = PlaybackSnapshot(observed_at_ms=T0 + 5_000, active=True, is_playing=True)
    assert kinds(playing(0, A, 197), ad) == [Kind.TRACK_ENDED]
    assert kinds(ad, playing(35, B, 3)) == [Kind.TRACK_STARTED]


def test_a_single_track_album_that_finished_ends_its_play_instead_of_pausing() -> None:
    # The last (here: only) track ran out and Spotify parked it at 0:00, paused: the play
    # ended; nothing new started.
    assert kinds(playing(0, A, 190), playing(12, A, 0, is_playing=False)) == [Kind.TRACK_ENDED]
    # The same parked state without time to reach the end is a pause and a seek back.
    assert kinds(playing(0, A, 100), playing(3, A, 0, is_playing=False)) == [
        Kind.SEEKED,
        Kind.PAUSED,
    ]
