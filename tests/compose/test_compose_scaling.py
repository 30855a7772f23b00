"""`docker compose up --scale watcher=2 --scale playback=2`: the watchers split the users
between them, and when one watcher container is killed the other takes its users over, with
no play lost or counted twice.

Users are signed up and connected through the gateway, as a client would; which watcher
watches whom is read from each container's ``watcher_users_owned`` metric.
"""

from __future__ import annotations

import subprocess

import httpx
import pytest

from tests.compose.conftest import WATCHERS, ComposeStack, wait_until
from tests.gateway.stack import Account, connect_spotify, sign_up

pytestmark = pytest.mark.timeout(900)

# Enough users that both watchers' partitions of the connections topic hold some.
USERS = 12
WATCHER_PORT = 8004


def owned(stack: ComposeStack, container: str) -> int:
    return int(stack.metric(container, WATCHER_PORT, "watcher_users_owned"))


def test_watchers_split_the_users_and_a_killed_watchers_users_are_taken_over_with_no_play_lost(
    compose_stack: ComposeStack,
) -> None:
    stack = compose_stack
    gateway, fake = stack.gateway.url, stack.fake.url
    watchers = stack.containers("watcher")
    assert len(watchers) == WATCHERS
    already = sum(owned(stack, watcher) for watcher in watchers)

    with httpx.Client(timeout=30) as http:
        accounts: list[Account] = [sign_up(gateway, http=http) for _ in range(USERS)]
        spotify_users = [connect_spotify(gateway, fake, account, http=http) for account in accounts]
        total = already + USERS

        def split() -> bool:
            counts = [owned(stack, watcher) for watcher in watchers]
            return sum(counts) == total and all(count > 0 for count in counts)

        wait_until(split, f"{total} users split across {WATCHERS} watchers", 60)

        catalogue = http.get(f"{fake}/_control/catalog", params={"limit": 5000}).json()
        track = min(catalogue["items"], key=lambda item: item["duration_ms"])
        for spotify_user in spotify_users:
            played = http.put(
                f"{fake}/_control/users/{spotify_user}/playback",
                json={"track_id": track["id"], "is_playing": True, "progress_ms": 0},
            )
            assert played.status_code in (200, 204), played.text

        def everyone_seen_playing() -> bool:
            for account in accounts:
                now = http.get(f"{gateway}/api/playback/now", headers=account.headers)
                if now.status_code != 200 or now.json()["track"]["id"] != track["id"]:
                    return False
            return True

        wait_until(everyone_seen_playing, "every user's track on now playing", 30)

        # Mid-track, one watcher dies without a chance to hand anything over.
        victim, survivor = watchers
        subprocess.run(["docker", "kill", victim], check=True, capture_output=True)
        wait_until(
            lambda: owned(stack, survivor) == total,
            f"the surviving watcher owning all {total} users",
            90,
        )

        # Heard for more than half of it (the play rule), then the players stop.
        def past_half() -> bool:
            for spotify_user in spotify_users:
                player = http.get(f"{fake}/_control/users/{spotify_user}").json()["player"]
                if player["progress_ms"] < track["duration_ms"] / 2 + 4_000:
                    return False
            return True

        wait_until(past_half, "every player past half of the track", track["duration_ms"] / 1000)
        for spotify_user in spotify_users:
            stopped = http.put(
                f"{fake}/_control/users/{spotify_user}/playback", json={"track_id": None}
            )
            assert stopped.status_code in (200, 204), stopped.text

        def histories() -> list[list[str]]:
            return [
                [
                    item["track"]["id"]
                    for item in http.get(
                        f"{gateway}/api/playback/history", headers=account.headers
                    ).json()["items"]
                ]
                for account in accounts
            ]

        # Exactly one play each: none lost with the killed watcher, none counted twice by the
        # watcher that took over.
        wait_until(lambda: histories() == [[track["id"]]] * USERS, "one play in every history", 60)
        assert histories() == [[track["id"]]] * USERS
