"""Tenant isolation, walked over the app's own OpenAPI document: for every ``/api/playback``
route and method, a request without a token is refused with 401, and a second user's token
never shows (or acts on) the first user's data, while the first user's own token does.

A route added later is walked too; one the walk does not know how to call fails the test."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from backbeat.events.playback import Track
from backbeat.playback.domain.play_rule import PlayRule
from backbeat.playback.domain.projection import IncomingEvent
from backbeat.playback.settings import PlaybackSettings
from backbeat.playback.store.projection import PlaybackProjection
from backbeat.runtime.database import Database
from tests.playback.integration import spotify
from tests.playback.integration.harness import publish
from tests.playback.integration.player_rig import Rig, rig
from tests.playback.integration.service import bearer, event_stream
from tests.playback.scenarios import Listener, track

pytestmark = pytest.mark.integration

# Alice's tracks are 101..103, Bob's 7: none of Alice's ids or names is inside one of Bob's.
ALICE_MARKERS = ("track-101", "track-102", "track-103", "Song 10", "artist-10")


def alices_listening(user_id: str) -> Listener:
    listener = Listener(user_id)
    listener.listen_through(track(101)).listen_through(track(102))
    return listener.start(track(103)).wait(20)


def bobs_listening(user_id: str) -> Listener:
    return Listener(user_id).listen_through(track(7)).start(track(7)).wait(10)


def shows_alice(text: str) -> bool:
    return any(marker in text for marker in ALICE_MARKERS)


@dataclass
class World:
    rig: Rig
    bootstrap: str
    topic: str
    alice: str
    alice_spotify: str
    bob: str

    async def alices_player(self) -> tuple[str, bool]:
        player = await spotify.player(self.rig.spotify, self.alice_spotify)
        assert player is not None
        return player["item_id"], player["is_playing"]


@pytest.fixture
async def world(database: Database, api_settings: PlaybackSettings) -> AsyncIterator[World]:
    """Alice and Bob, each with plays, something playing, and a connected Spotify player."""
    settings = api_settings.model_copy(update={"live_stream": True})
    async with rig(settings) as built:
        alice, alice_spotify = await built.connected_user()
        bob, _ = await built.connected_user()
        projection = PlaybackProjection(database, PlayRule())
        await projection.apply(alices_listening(alice).events)
        await projection.apply(bobs_listening(bob).events)
        try:
            yield World(
                built, settings.kafka_bootstrap, settings.events_topic, alice, alice_spotify, bob
            )
        finally:
            await built.spotify.aclose()


def playback_routes(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, operations in openapi["paths"].items()
        if path.startswith("/api/playback/")
        for method, operation in operations.items()
    ]


def is_stream(operation: dict[str, Any]) -> bool:
    return "text/event-stream" in operation["responses"].get("200", {}).get("content", {})


async def stream_probe(world: World) -> tuple[list[str], list[str]]:
    """What Bob's and Alice's streams show while a new event of each goes out: Alice's first,
    and Bob's only once her stream has hers, so that if Bob's stream were sent hers it would
    come before his own."""
    async with (
        httpx.AsyncClient(timeout=30) as http,
        event_stream(http, world.rig.url, world.bob) as bobs,
        event_stream(http, world.rig.url, world.alice) as alices,
    ):
        await publish(world.bootstrap, world.topic, next_event(world.alice, track(101)))
        alice_saw = await alices.until(lambda event: event.data["subject"] == world.alice)
        await publish(world.bootstrap, world.topic, next_event(world.bob, track(7)))
        bob_saw = await bobs.until(lambda event: event.data["subject"] == world.bob)
    return [str(e.data) for e in bob_saw], [str(e.data) for e in alice_saw]


def next_event(user_id: str, playing: Track) -> list[IncomingEvent]:
    """A new track start for the user, with a sequence after any they have had so far."""
    listener = Listener(user_id)
    listener.sequence = int(time.time() * 1000)
    return listener.start(playing).events


async def test_no_route_shows_or_touches_another_users_data(world: World) -> None:
    rig, alice, bob = world.rig, world.alice, world.bob
    routes = playback_routes(rig.app.openapi())
    assert len(routes) >= 8
    alices_player = await world.alices_player()

    for path, method, operation in routes:
        anonymous = await rig.api.request(method.upper(), path)
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.json()["code"] == "missing_token"

        if method == "get" and is_stream(operation):
            bobs_view, alices_view = await stream_probe(world)
            assert not any(shows_alice(frame) for frame in bobs_view), path
            assert any(shows_alice(frame) for frame in alices_view), path
        elif method == "get":
            bobs = await rig.api.get(path, headers=bearer(bob))
            alices = await rig.api.get(path, headers=bearer(alice))
            assert bobs.status_code == 200 and alices.status_code == 200, path
            assert not shows_alice(bobs.text), path
            assert shows_alice(alices.text), path
        elif method == "post":
            asked_before = len(rig.hand_outs.asked_for)
            bobs = await rig.api.post(path, headers=bearer(bob))
            assert bobs.status_code in (204, 409), (path, bobs.text)
            assert not shows_alice(bobs.text), path
            # Only Bob's Spotify token was asked for, so only Bob's player could be touched.
            assert rig.hand_outs.asked_for[asked_before:] == [bob], path
        else:
            pytest.fail(f"the walk does not know how to call {method.upper()} {path}")

    # Bob paused, played, skipped: Alice's player still plays her track.
    assert await world.alices_player() == alices_player
