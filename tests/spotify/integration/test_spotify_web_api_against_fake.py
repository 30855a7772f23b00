"""Every Web API call of the client against the fake, including each failure type."""

from __future__ import annotations

from typing import Any

import pytest

from backbeat.spotify import (
    AccessTokenExpired,
    Episode,
    InsufficientScope,
    NoActiveDevice,
    NotFound,
    PermanentSpotifyError,
    PlayerCommandRejected,
    PremiumRequired,
    RateLimited,
    SpotifyClient,
    Track,
    TransientSpotifyError,
)

from .conftest import FakeSpotifyHarness, HarnessFactory


async def _first_tracks(harness: FakeSpotifyHarness, count: int) -> list[dict[str, Any]]:
    response = await harness.control("GET", "/catalog", params={"limit": count})
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _play(harness: FakeSpotifyHarness, user_id: str, **body: Any) -> dict[str, Any]:
    response = await harness.control("PUT", f"/users/{user_id}/playback", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def _connected(harness: FakeSpotifyHarness, **user: Any) -> tuple[str, str, SpotifyClient]:
    user_id = await harness.create_user(**user)
    grant = await harness.connect(user_id)
    return user_id, grant.access_token.get_secret_value(), harness.spotify()


async def test_current_user_shows_private_fields_only_with_their_scopes(
    harness: FakeSpotifyHarness,
) -> None:
    user_id = await harness.create_user(display_name="Ada", product="free")
    full = await harness.connect(user_id)
    bare = await harness.connect(user_id, scopes=("user-read-playback-state",))
    spotify = harness.spotify()

    profile = await spotify.current_user(full.access_token.get_secret_value())
    limited = await spotify.current_user(bare.access_token.get_secret_value())

    assert (profile.id, profile.display_name, profile.product) == (user_id, "Ada", "free")
    assert profile.email == f"{user_id}@example.com"
    assert limited.product is None and limited.email is None


async def test_nothing_playing_is_none(harness: FakeSpotifyHarness) -> None:
    _, token, spotify = await _connected(harness)
    assert await spotify.playback_state(token) is None
    assert await spotify.currently_playing(token) is None


async def test_playback_state_progress_follows_the_fake_clock(harness: FakeSpotifyHarness) -> None:
    user_id, token, spotify = await _connected(harness)
    track = (await _first_tracks(harness, 1))[0]
    await _play(harness, user_id, track_id=track["id"], progress_ms=1_000)
    started = await spotify.playback_state(token)
    await harness.advance(20_000)
    later = await spotify.playback_state(token)

    assert started is not None and later is not None
    assert isinstance(later.item, Track) and later.item.id == track["id"]
    assert later.is_playing and later.currently_playing_type == "track"
    assert later.progress_ms == 21_000
    # The timestamp is when the state last changed, not when it was read.
    assert later.timestamp == started.timestamp
    assert later.device.is_active


async def test_a_track_that_ends_gives_way_to_nothing_playing_when_nothing_follows(
    harness: FakeSpotifyHarness,
) -> None:
    user_id, token, spotify = await _connected(harness)
    track = (await _first_tracks(harness, 1))[0]
    await _play(harness, user_id, track_id=track["id"])
    await harness.advance(track["duration_ms"] + 1)
    state = await spotify.playback_state(token)
    # A single scripted track is a one-item queue: it parks paused at its start.
    assert state is not None and not state.is_playing and state.progress_ms == 0


async def test_an_ad_comes_back_with_a_null_item(harness: FakeSpotifyHarness) -> None:
    user_id, token, spotify = await _connected(harness)
    await _play(harness, user_id, ad=True)
    state = await spotify.playback_state(token)
    now = await spotify.currently_playing(token)
    assert state is not None and state.currently_playing_type == "ad" and state.item is None
    assert now is not None and now.currently_playing_type == "ad" and now.item is None


async def test_an_episode_is_an_item_only_when_episodes_are_asked_for(
    harness: FakeSpotifyHarness,
) -> None:
    user_id, token, spotify = await _connected(harness)
    response = await harness.control("GET", "/catalog", params={"type": "episode", "limit": 1})
    episode = response.json()["items"][0]
    await _play(harness, user_id, episode_id=episode["id"], progress_ms=60_000)

    with_episodes = await spotify.currently_playing(token)
    tracks_only = await spotify.currently_playing(token, additional_types=("track",))

    assert with_episodes is not None and isinstance(with_episodes.item, Episode)
    assert with_episodes.item.id == episode["id"] and with_episodes.episode is not None
    assert tracks_only is not None
    assert tracks_only.currently_playing_type == "episode" and tracks_only.item is None


async def test_recently_played_lists_finished_plays_newest_first_with_cursors(
    harness: FakeSpotifyHarness,
) -> None:
    user_id, token, spotify = await _connected(harness)
    tracks = await _first_tracks(harness, 3)
    for track in tracks:
        await _play(harness, user_id, track_id=track["id"])
        await harness.advance(40_000)
    await _play(harness, user_id, track_id=None)

    page = await spotify.recently_played(token, limit=2)
    assert [item.track.id for item in page.items] == [tracks[2]["id"], tracks[1]["id"]]
    assert page.next is not None and page.cursors is not None
    assert page.cursors.before is not None
    older = await spotify.recently_played(token, before=int(page.cursors.before))
    assert [item.track.id for item in older.items] == [tracks[0]["id"]]
    newer = await spotify.recently_played(token, after=int(older.cursors.after))  # type: ignore[union-attr]
    assert [item.track.id for item in newer.items] == [tracks[2]["id"], tracks[1]["id"]]
    assert page.items[0].played_at.timestamp() * 1000 == pytest.approx(int(page.cursors.after))  # type: ignore[arg-type]


async def test_recently_played_leaves_out_plays_shorter_than_30_seconds(
    harness: FakeSpotifyHarness,
) -> None:
    user_id, token, spotify = await _connected(harness)
    tracks = await _first_tracks(harness, 2)
    await _play(harness, user_id, track_id=tracks[0]["id"])
    await harness.advance(10_000)
    await _play(harness, user_id, track_id=tracks[1]["id"])
    await harness.advance(31_000)
    await _play(harness, user_id, track_id=None)
    page = await spotify.recently_played(token)
    assert [item.track.id for item in page.items] == [tracks[1]["id"]]


async def test_pause_and_play_change_what_the_player_reports(harness: FakeSpotifyHarness) -> None:
    user_id, token, spotify = await _connected(harness)
    track = (await _first_tracks(harness, 1))[0]
    await _play(harness, user_id, track_id=track["id"])
    await harness.advance(5_000)

    await spotify.pause(token)
    await harness.advance(60_000)
    paused = await spotify.playback_state(token)
    await spotify.play(token)
    await harness.advance(1_000)
    resumed = await spotify.playback_state(token)

    assert paused is not None and not paused.is_playing and paused.progress_ms == 5_000
    assert resumed is not None and resumed.is_playing and resumed.progress_ms == 6_000


async def test_play_starts_an_album_at_an_offset_on_a_chosen_device(
    harness: FakeSpotifyHarness,
) -> None:
    user_id, token, spotify = await _connected(harness)
    track = (await _first_tracks(harness, 1))[0]
    await _play(harness, user_id, track_id=track["id"])
    user = (await harness.control("GET", f"/users/{user_id}")).json()
    device_id = user["devices"][1]["id"]

    await spotify.play(
        token, device_id=device_id, context_uri=track["album_uri"], offset_position=1
    )
    state = await spotify.playback_state(token)

    assert state is not None and state.context is not None
    assert state.context.uri == track["album_uri"]
    assert state.device.id == device_id
    assert isinstance(state.item, Track) and state.item.track_number == 2


async def test_next_and_previous_move_through_the_context(harness: FakeSpotifyHarness) -> None:
    user_id, token, spotify = await _connected(harness)
    track = (await _first_tracks(harness, 1))[0]
    await _play(harness, user_id, track_id=track["id"])
    await spotify.play(token, context_uri=track["album_uri"])

    await spotify.next(token)
    second = await spotify.currently_playing(token)
    await spotify.previous(token)
    first = await spotify.currently_playing(token)

    assert second is not None and second.track is not None and second.track.track_number == 2
    assert first is not None and first.track is not None and first.track.id == track["id"]


async def test_commands_without_an_active_device_raise_no_active_device(
    harness: FakeSpotifyHarness,
) -> None:
    _, token, spotify = await _connected(harness)
    for command in (spotify.play, spotify.pause, spotify.next, spotify.previous):
        with pytest.raises(NoActiveDevice) as refused:
            await command(token)
        assert refused.value.reason == "NO_ACTIVE_DEVICE"
        assert isinstance(refused.value, PermanentSpotifyError)


async def test_commands_for_a_free_user_raise_premium_required(harness: FakeSpotifyHarness) -> None:
    user_id, token, spotify = await _connected(harness, product="free")
    track = (await _first_tracks(harness, 1))[0]
    await _play(harness, user_id, track_id=track["id"])
    with pytest.raises(PremiumRequired) as refused:
        await spotify.pause(token)
    assert refused.value.status == 403


async def test_pausing_a_paused_player_is_a_rejected_command(harness: FakeSpotifyHarness) -> None:
    user_id, token, spotify = await _connected(harness)
    track = (await _first_tracks(harness, 1))[0]
    await _play(harness, user_id, track_id=track["id"], is_playing=False)
    with pytest.raises(PlayerCommandRejected) as refused:
        await spotify.pause(token)
    assert refused.value.reason == "UNKNOWN"


async def test_an_unknown_device_is_not_found(harness: FakeSpotifyHarness) -> None:
    user_id, token, spotify = await _connected(harness)
    track = (await _first_tracks(harness, 1))[0]
    await _play(harness, user_id, track_id=track["id"])
    with pytest.raises(NotFound):
        await spotify.next(token, device_id="no-such-device")


async def test_access_token_expires_after_3600_seconds_of_fake_clock(
    harness: FakeSpotifyHarness,
) -> None:
    _, token, spotify = await _connected(harness)
    await harness.advance(3_599_999)
    await spotify.current_user(token)
    await harness.advance(1)
    with pytest.raises(AccessTokenExpired) as refused:
        await spotify.playback_state(token)
    assert refused.value.status == 401
    assert token not in str(refused.value) and token not in repr(refused.value)


async def test_missing_scopes_raise_insufficient_scope(harness: FakeSpotifyHarness) -> None:
    user_id = await harness.create_user()
    grant = await harness.connect(user_id, scopes=("user-read-private",))
    token = grant.access_token.get_secret_value()
    spotify = harness.spotify()
    with pytest.raises(InsufficientScope) as read_refused:
        await spotify.recently_played(token)
    with pytest.raises(InsufficientScope) as command_refused:
        await spotify.pause(token)
    assert (read_refused.value.status, command_refused.value.status) == (401, 403)


async def test_the_rate_limit_counts_calls_per_app_over_a_rolling_window(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(rate_limit=3, rate_window_s=30)
    _, token, spotify = await _connected(harness)
    for _ in range(3):
        await spotify.playback_state(token)
    with pytest.raises(RateLimited) as limited:
        await spotify.playback_state(token)
    assert limited.value.retry_after == 30
    assert isinstance(limited.value, TransientSpotifyError)
    await harness.advance(30_000)
    assert await spotify.playback_state(token) is None
    stats = (await harness.control("GET", "/stats")).json()
    assert stats["rate_limited_by_client"] == {harness.client_id: 1}


async def test_an_injected_429_storm_gives_retry_after_in_seconds(
    harness: FakeSpotifyHarness,
) -> None:
    _, token, spotify = await _connected(harness)
    await harness.control(
        "POST",
        "/faults",
        json={"endpoint": "player", "kind": "rate_limit", "retry_after_s": 7, "count": 2},
    )
    for _ in range(2):
        with pytest.raises(RateLimited) as limited:
            await spotify.playback_state(token)
        assert limited.value.retry_after == 7
    assert await spotify.playback_state(token) is None


async def test_retry_after_as_an_http_date_is_parsed_to_seconds(
    harness: FakeSpotifyHarness,
) -> None:
    _, token, spotify = await _connected(harness)
    await harness.control(
        "POST",
        "/faults",
        json={
            "endpoint": "web_api",
            "kind": "rate_limit",
            "retry_after_s": 120,
            "retry_after_format": "http-date",
            "count": 1,
        },
    )
    with pytest.raises(RateLimited) as limited:
        await spotify.currently_playing(token)
    assert limited.value.retry_after is not None
    # An HTTP-date has whole seconds, so the wait is 119-120 s depending on the sub-second.
    assert 118 <= limited.value.retry_after <= 120


async def test_server_errors_are_transient(harness: FakeSpotifyHarness) -> None:
    _, token, spotify = await _connected(harness)
    await harness.control(
        "POST",
        "/faults",
        json={"endpoint": "recently_played", "kind": "server_error", "status": 502, "count": 1},
    )
    with pytest.raises(TransientSpotifyError) as failed:
        await spotify.recently_played(token)
    assert failed.value.status == 502
    assert (await spotify.recently_played(token)).items == []


async def test_a_fault_with_a_duration_ends_on_the_fake_clock(harness: FakeSpotifyHarness) -> None:
    _, token, spotify = await _connected(harness)
    await harness.control(
        "POST", "/faults", json={"endpoint": "me", "kind": "server_error", "duration_ms": 60_000}
    )
    with pytest.raises(TransientSpotifyError):
        await spotify.current_user(token)
    await harness.advance(60_000)
    assert (await spotify.current_user(token)).id
