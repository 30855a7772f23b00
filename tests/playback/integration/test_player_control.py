"""Player commands against the Spotify fake: the command reaches the user's player, and every
refusal (Spotify's or tokens') is a clear problem response.

The fake runs in-process; tokens' hand-out is a stand-in here, so that each of its answers
can be chosen (``test_player_control_instances`` runs the real tokens service)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from backbeat.playback.settings import PlaybackSettings
from tests.playback.integration import spotify
from tests.playback.integration.player_rig import Rig, rig
from tests.playback.integration.service import new_user

pytestmark = pytest.mark.integration


@pytest.fixture
async def player_rig(api_settings: PlaybackSettings) -> AsyncIterator[Rig]:
    async with rig(api_settings) as built:
        try:
            yield built
        finally:
            await built.spotify.aclose()


async def test_each_command_reaches_the_callers_spotify_player(player_rig: Rig) -> None:
    user, spotify_user = await player_rig.connected_user()
    before = await spotify.player(player_rig.spotify, spotify_user)
    assert before is not None and before["is_playing"]

    paused = await player_rig.command(user, "pause")
    after_pause = await spotify.player(player_rig.spotify, spotify_user)
    played = await player_rig.command(user, "play")
    after_play = await spotify.player(player_rig.spotify, spotify_user)
    skipped = await player_rig.command(user, "next")
    after_next = await spotify.player(player_rig.spotify, spotify_user)
    back = await player_rig.command(user, "previous")

    assert [r.status_code for r in (paused, played, skipped, back)] == [204] * 4
    assert after_pause is not None and not after_pause["is_playing"]
    assert after_play is not None and after_play["is_playing"]
    # A scripted player's queue is its one track: "next" starts it again from the top.
    assert after_next is not None and after_next["progress_ms"] < before["progress_ms"]
    assert player_rig.hand_outs.asked_for == [user] * 4


async def test_spotifys_refusals_are_clear_errors(player_rig: Rig) -> None:
    rig = player_rig
    idle, _ = await rig.connected_user(playing=None)
    free, _ = await rig.connected_user(product="free")
    listener, _ = await rig.connected_user()
    paused, _ = await rig.connected_user(playing=False)

    no_device = await rig.command(idle, "pause")
    premium = await rig.command(free, "pause")
    already_paused = await rig.command(paused, "pause")
    await rig.spotify.post(
        "/_control/faults",
        json={"endpoint": "pause", "kind": "rate_limit", "retry_after_s": 7, "count": 1},
    )
    rate_limited = await rig.command(listener, "pause")
    await rig.spotify.post(
        "/_control/faults",
        json={"endpoint": "next", "kind": "server_error", "status": 503, "count": 1},
    )
    down = await rig.command(listener, "next")

    for response, status, code in (
        (no_device, 409, "no_active_device"),
        (premium, 403, "premium_required"),
        (already_paused, 409, "player_command_rejected"),
        (rate_limited, 429, "spotify_rate_limited"),
        (down, 503, "spotify_unavailable"),
    ):
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == code
    assert rate_limited.headers["retry-after"] == "7"
    assert int(down.headers["retry-after"]) >= 1
    # The refused pause changed nothing: the listener still plays.
    assert (await rig.command(listener, "pause")).status_code == 204


async def test_tokens_refusals_are_clear_errors(player_rig: Rig) -> None:
    rig = player_rig
    not_connected, reauth, later = new_user(), new_user(), new_user()
    rig.hand_outs.refusals[reauth] = (409, "needs_reauth")
    rig.hand_outs.refusals[later] = (503, "try_later")

    responses = {user: await rig.command(user, "play") for user in (not_connected, reauth, later)}

    for user, status, code in (
        (not_connected, 409, "spotify_not_connected"),
        (reauth, 409, "spotify_needs_reauth"),
        (later, 503, "spotify_unavailable"),
    ):
        assert responses[user].status_code == status, responses[user].text
        assert responses[user].json()["code"] == code
    assert responses[later].headers["retry-after"] == "11"


async def test_a_token_spotify_refuses_is_asked_for_once_more(player_rig: Rig) -> None:
    rig = player_rig
    user, spotify_user = await rig.connected_user()
    good = rig.hand_outs.tokens[user][0]
    rig.hand_outs.tokens[user] = ["a-token-spotify-never-issued", good]
    stuck, _ = await rig.connected_user()
    rig.hand_outs.tokens[stuck] = ["a-token-spotify-never-issued"]

    recovered = await rig.command(user, "pause")
    refused = await rig.command(stuck, "pause")

    assert recovered.status_code == 204
    player = await spotify.player(rig.spotify, spotify_user)
    assert player is not None and not player["is_playing"]
    assert rig.hand_outs.asked_for.count(user) == 2
    assert refused.status_code == 409 and refused.json()["code"] == "spotify_needs_reauth"
    assert rig.hand_outs.asked_for.count(stuck) == 2
