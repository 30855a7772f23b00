"""The control API: users, scripted playback, ground truth, stats, faults, clock, simulation."""

from __future__ import annotations

from .conftest import FakeSpotifyHarness, HarnessFactory


async def test_scripted_playback_shows_in_the_player_state_and_the_ground_truth(
    harness: FakeSpotifyHarness,
) -> None:
    user_id = await harness.create_user()
    track = (await harness.control("GET", "/catalog", params={"limit": 1})).json()["items"][0]
    await harness.control("PUT", f"/users/{user_id}/playback", json={"track_id": track["id"]})
    await harness.advance(50_000)
    await harness.control("PUT", f"/users/{user_id}/playback", json={"track_id": None})

    user = (await harness.control("GET", f"/users/{user_id}")).json()
    truth = (await harness.control("GET", f"/users/{user_id}/ground-truth")).json()

    assert user["player"] is None
    assert [(p["item_id"], p["listened_ms"], p["end_reason"]) for p in truth["plays"]] == [
        (track["id"], 50_000, "stopped")
    ]


async def test_unknown_users_and_tracks_are_problem_details(harness: FakeSpotifyHarness) -> None:
    missing = await harness.control("GET", "/users/nobody")
    user_id = await harness.create_user()
    bad_track = await harness.control(
        "PUT", f"/users/{user_id}/playback", json={"track_id": "nope"}
    )
    invalid = await harness.control("POST", "/clock/advance", json={"ms": -5})
    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_user")
    assert (bad_track.status_code, bad_track.json()["code"]) == (404, "unknown_item")
    assert (invalid.status_code, invalid.json()["code"]) == (422, "invalid_request")


async def test_stats_count_web_api_calls_per_app_and_per_user(harness: FakeSpotifyHarness) -> None:
    alice, bob = await harness.create_user(), await harness.create_user()
    alice_token = (await harness.connect(alice)).access_token.get_secret_value()
    bob_token = (await harness.connect(bob)).access_token.get_secret_value()
    spotify = harness.spotify()
    for _ in range(3):
        await spotify.playback_state(alice_token)
    await spotify.current_user(bob_token)

    stats = (await harness.control("GET", "/stats")).json()

    assert stats["web_api_calls"]["by_client"] == {harness.client_id: 4}
    assert stats["web_api_calls"]["by_user"] == {alice: 3, bob: 1}
    assert stats["web_api_calls"]["by_endpoint"] == {"player": 3, "me": 1}
    assert stats["token_calls_by_client"] == {harness.client_id: 2}


async def test_faults_can_be_listed_and_cleared(harness: FakeSpotifyHarness) -> None:
    created = await harness.control(
        "POST", "/faults", json={"endpoint": "*", "kind": "server_error"}
    )
    assert created.status_code == 201
    listed = (await harness.control("GET", "/faults")).json()["faults"]
    cleared = (await harness.control("DELETE", f"/faults/{created.json()['id']}")).json()
    assert [fault["id"] for fault in listed] == [created.json()["id"]]
    assert cleared == {"cleared": 1}
    assert (await harness.control("GET", "/faults")).json()["faults"] == []
    unknown = await harness.control(
        "POST", "/faults", json={"endpoint": "/v1/x", "kind": "latency"}
    )
    assert unknown.status_code == 422


async def test_simulation_starts_and_stops_listeners(harness: FakeSpotifyHarness) -> None:
    started = (
        await harness.control("POST", "/simulation", json={"action": "start", "count": 3})
    ).json()
    assert started["changed_user_ids"] == ["sim0001", "sim0002", "sim0003"]
    await harness.advance(4 * 3_600_000)
    truths = [
        (await harness.control("GET", f"/users/{user_id}/ground-truth")).json()["plays"]
        for user_id in started["changed_user_ids"]
    ]
    assert all(truths), "every simulated user listened to something in four hours"

    stopped = (await harness.control("POST", "/simulation", json={"action": "stop"})).json()
    assert stopped["simulated_user_ids"] == []
    for user_id in started["changed_user_ids"]:
        user = (await harness.control("GET", f"/users/{user_id}")).json()
        assert user["player"] is None and not user["simulated"]


async def test_simulated_listeners_are_the_same_for_the_same_seed(
    make_harness: HarnessFactory,
) -> None:
    async def truth(seed: int) -> list[object]:
        harness = await make_harness(seed=seed, listeners=2)
        await harness.advance(3 * 3_600_000)
        response = await harness.control("GET", "/users/sim0002/ground-truth")
        plays: list[object] = response.json()["plays"]
        return plays

    assert await truth(11) == await truth(11)
    assert await truth(11) != await truth(12)


async def test_clock_reports_and_advances(harness: FakeSpotifyHarness) -> None:
    before = (await harness.control("GET", "/clock")).json()
    after = (await harness.control("POST", "/clock/advance", json={"ms": 1_234})).json()
    assert before["mode"] == "manual"
    assert after["now_ms"] == before["now_ms"] + 1_234


async def test_a_script_plays_skips_seeks_back_pauses_repeats_and_stops_on_the_fake_clock(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(catalogue="short")
    user_id = await harness.create_user()
    items = (await harness.control("GET", "/catalog", params={"limit": 3})).json()["items"]
    a, b, c = (t["id"] for t in items)
    durations = {t["id"]: t["duration_ms"] for t in items}
    assert all(40_000 <= d < 150_000 for d in durations.values())
    steps = [
        {"at_ms": 0, "action": "play", "track_ids": [a, b, c]},
        {"at_ms": 10_000, "action": "next"},  # a: 10 s, skipped
        {"at_ms": 30_000, "action": "seek", "position_ms": 5_000},  # b back from 20 s to 5 s
        {"at_ms": 35_000, "action": "pause"},
        {"at_ms": 95_000, "action": "resume"},  # a minute paused: not heard
        {"at_ms": 100_000, "action": "repeat", "repeat": "track"},
    ]
    scripted = await harness.control("PUT", f"/users/{user_id}/script", json={"steps": steps})
    assert scripted.status_code == 200
    assert scripted.json()["player"]["item_id"] == a
    # b resumed at 10 s in at 95 s: it runs out, then plays again from the start (repeat).
    b_end = 95_000 + durations[b] - 10_000
    await harness.advance(b_end + 20_000)
    await harness.control(
        "PUT",
        f"/users/{user_id}/script",
        json={"steps": [{"at_ms": 0, "action": "stop"}]},
    )
    truth = (await harness.control("GET", f"/users/{user_id}/ground-truth")).json()["plays"]
    assert [(p["item_id"], p["listened_ms"], p["end_reason"]) for p in truth] == [
        (a, 10_000, "skipped"),
        (b, 20_000 + 5_000 + durations[b] - 10_000, "completed"),
        (b, 20_000, "stopped"),
    ]


async def test_a_script_naming_an_unknown_track_is_refused(harness: FakeSpotifyHarness) -> None:
    user_id = await harness.create_user()
    refused = await harness.control(
        "PUT",
        f"/users/{user_id}/script",
        json={"steps": [{"at_ms": 0, "action": "play", "track_ids": ["nope"]}]},
    )
    assert (refused.status_code, refused.json()["code"]) == (404, "unknown_item")
