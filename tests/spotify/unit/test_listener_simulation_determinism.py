"""Simulated listeners are deterministic per seed, fast, and look like people listening."""

from __future__ import annotations

import time
from collections import Counter
from itertools import pairwise

from backbeat.spotify_fake.domain.catalogue import generate_catalogue
from backbeat.spotify_fake.domain.listener import Listener, devices_for, simulate_listeners
from backbeat.spotify_fake.domain.player import Play, Player

T0 = 1_767_600_000_000
SIX_HOURS_MS = 6 * 3_600_000
USERS = [f"sim{n:04d}" for n in range(1, 51)]


def _run(seed: int) -> dict[str, list[Play]]:
    catalogue = generate_catalogue(seed)
    return simulate_listeners(
        seed, USERS, catalogue, T0, T0 + SIX_HOURS_MS, free_user_ids=frozenset(USERS[:10])
    )


def test_fifty_users_for_six_hours_replay_identically_and_quickly() -> None:
    started = time.perf_counter()
    first = _run(seed=42)
    second = _run(seed=42)
    elapsed = time.perf_counter() - started

    assert first == second
    assert elapsed < 5.0
    plays = [play for user_plays in first.values() for play in user_plays]
    assert len(plays) > 1_000
    reasons = Counter(play.end_reason for play in plays)
    assert reasons["completed"] > reasons["skipped"] > 0 and reasons["stopped"] > 0
    assert {play.item_type for play in plays} >= {"track"}
    assert len({play.device_id for play in first[USERS[0]]}) >= 1


def test_another_seed_gives_another_ground_truth() -> None:
    assert _run(seed=42) != _run(seed=43)


def test_advancing_in_small_steps_gives_the_same_plays_as_one_jump() -> None:
    seed, user_id = 9, "sim0007"
    catalogue = generate_catalogue(seed)
    one_jump = Player(catalogue, devices_for(seed, user_id), ad_every_tracks=None)
    Listener(user_id, seed, catalogue, one_jump, T0).advance_to(T0 + SIX_HOURS_MS)
    stepped = Player(catalogue, devices_for(seed, user_id), ad_every_tracks=None)
    listener = Listener(user_id, seed, catalogue, stepped, T0)
    for now in range(T0, T0 + SIX_HOURS_MS + 1, 7_919):
        listener.advance_to(now)
    listener.advance_to(T0 + SIX_HOURS_MS)
    assert stepped.ground_truth(T0 + SIX_HOURS_MS) == one_jump.ground_truth(T0 + SIX_HOURS_MS)


def test_plays_never_overlap_and_never_exceed_what_the_clock_allows() -> None:
    for plays in _run(seed=5).values():
        for before, after in pairwise(plays):
            assert before.ended_at_ms is not None and before.ended_at_ms <= after.started_at_ms
        for play in plays:
            end = play.ended_at_ms if play.ended_at_ms is not None else T0 + SIX_HOURS_MS
            assert 0 < play.listened_ms <= end - play.started_at_ms
