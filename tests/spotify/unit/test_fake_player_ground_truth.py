"""The fake's player: progress over time, auto-advance, and which plays count as plays."""

from __future__ import annotations

import pytest

from backbeat.spotify_fake.domain.catalogue import Catalogue, generate_catalogue
from backbeat.spotify_fake.domain.listener import devices_for
from backbeat.spotify_fake.domain.player import AD_DURATION_MS, Player, PlayerCommandError
from backbeat.spotify_fake.domain.rate_limit import RollingWindowLimit

T0 = 1_767_600_000_000


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return generate_catalogue(3)


def _album(catalogue: Catalogue, tracks: int = 3) -> tuple[str, tuple[str, ...]]:
    album = next(a for a in catalogue.albums.values() if len(a.track_ids) >= tracks)
    return album.uri, album.track_ids


def _player(catalogue: Catalogue, ads: int | None = None) -> Player:
    return Player(catalogue, devices_for(3, "u1"), ad_every_tracks=ads)


def test_progress_moves_with_time_only_while_playing(catalogue: Catalogue) -> None:
    uri, _ = _album(catalogue)
    player = _player(catalogue)
    player.play_context(T0, uri)
    player.pause(T0 + 10_000)
    snapshot = player.snapshot(T0 + 70_000)
    assert snapshot is not None
    assert (snapshot.progress_ms, snapshot.is_playing, snapshot.timestamp_ms) == (
        10_000,
        False,
        T0 + 10_000,
    )


def test_a_finished_track_is_a_completed_play_and_the_next_one_starts(catalogue: Catalogue) -> None:
    uri, tracks = _album(catalogue)
    player = _player(catalogue)
    player.play_context(T0, uri)
    first_ms = catalogue.tracks[tracks[0]].duration_ms
    snapshot = player.snapshot(T0 + first_ms + 1_500)
    assert snapshot is not None and snapshot.item_id == tracks[1]
    assert snapshot.progress_ms == 1_500 and snapshot.timestamp_ms == T0 + first_ms
    plays = player.ground_truth(T0 + first_ms + 1_500)
    assert [(p.item_id, p.end_reason, p.listened_ms) for p in plays] == [
        (tracks[0], "completed", first_ms),
        (tracks[1], None, 1_500),
    ]


def test_pauses_and_forward_seeks_do_not_count_as_listening(catalogue: Catalogue) -> None:
    uri, tracks = _album(catalogue)
    player = _player(catalogue)
    player.play_context(T0, uri)
    player.pause(T0 + 20_000)
    player.resume(T0 + 600_000)
    player.seek(T0 + 610_000, 100_000)
    player.skip_next(T0 + 615_000)
    play = player.ground_truth(T0 + 615_000)[0]
    assert (play.item_id, play.listened_ms, play.end_reason) == (tracks[0], 35_000, "skipped")
    assert play.started_at_ms == T0 and play.ended_at_ms == T0 + 615_000


def test_repeat_track_makes_each_loop_a_play(catalogue: Catalogue) -> None:
    uri, tracks = _album(catalogue)
    player = _player(catalogue)
    player.play_context(T0, uri)
    player.set_repeat(T0, "track")
    duration = catalogue.tracks[tracks[0]].duration_ms
    plays = player.ground_truth(T0 + 2 * duration + 1)
    assert [p.item_id for p in plays] == [tracks[0]] * 3
    assert [p.end_reason for p in plays] == ["completed", "completed", None]


def test_a_track_skipped_before_any_audio_is_not_a_play(catalogue: Catalogue) -> None:
    uri, tracks = _album(catalogue)
    player = _player(catalogue)
    player.play_context(T0, uri)
    player.skip_next(T0)
    player.skip_next(T0 + 5_000)
    assert [p.item_id for p in player.ground_truth(T0 + 5_000)] == [tracks[1]]


def test_free_tier_players_interrupt_with_ads(catalogue: Catalogue) -> None:
    uri, tracks = _album(catalogue)
    player = _player(catalogue, ads=1)
    player.play_context(T0, uri)
    end = T0 + catalogue.tracks[tracks[0]].duration_ms
    during_ad = player.snapshot(end + 1_000)
    after_ad = player.snapshot(end + AD_DURATION_MS + 1_000)
    assert during_ad is not None and during_ad.kind == "ad" and during_ad.item_id is None
    assert after_ad is not None and after_ad.item_id == tracks[1]


def test_stopped_player_reports_nothing_and_refuses_pause(catalogue: Catalogue) -> None:
    uri, _ = _album(catalogue)
    player = _player(catalogue)
    player.play_context(T0, uri)
    player.stop(T0 + 1_000)
    assert player.snapshot(T0 + 2_000) is None
    with pytest.raises(PlayerCommandError) as refused:
        player.pause(T0 + 2_000)
    assert refused.value.reason == "NO_ACTIVE_DEVICE"
    assert player.ground_truth(T0 + 2_000)[0].end_reason == "stopped"


def test_rolling_window_limit_frees_up_as_old_calls_leave_the_window() -> None:
    limit = RollingWindowLimit(limit=2, window_ms=30_000)
    assert limit.admit("app", 0) is None
    assert limit.admit("app", 10_000) is None
    assert limit.admit("app", 12_000) == 18
    assert limit.admit("other-app", 12_000) is None
    assert limit.admit("app", 30_000) is None
    assert limit.admit("app", 30_001) == 10
