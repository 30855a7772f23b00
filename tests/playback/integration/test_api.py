"""The read API over real HTTP: now playing, history pages, statistics, errors as problem
details, and nothing left to see once a user is erased."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from backbeat.events.cloudevents import to_kafka
from backbeat.events.users import UserDeleted, user_deleted_event
from backbeat.playback.app import create_app
from backbeat.playback.domain.play_rule import PlayRule
from backbeat.playback.domain.projection import IncomingEvent
from backbeat.playback.settings import PlaybackSettings
from backbeat.playback.store.projection import PlaybackProjection
from backbeat.runtime.database import Database
from tests.playback.integration.harness import eventually, publish_raw
from tests.playback.integration.service import FORGE, bearer, new_user, served
from tests.playback.scenarios import T0, Listener, track

pytestmark = pytest.mark.integration


async def apply(database: Database, events: list[IncomingEvent]) -> None:
    await PlaybackProjection(database, PlayRule()).apply(events)


def three_plays_then_listening(user_id: str) -> Listener:
    """Plays of tracks 1, 2 and 1 again (an hour apart), then track 3 playing now."""
    listener = Listener(user_id)
    for n in (1, 2, 1):
        listener.listen_through(track(n, artist=9 if n == 1 else n)).wait(3600)
    return listener.start(track(3)).wait(30)


async def test_now_playing_is_the_callers_player_and_204_when_nothing_plays(
    database: Database, api_settings: PlaybackSettings, unique: str
) -> None:
    listener = Listener(new_user()).start(track(5)).wait(40).pause(40_000)
    await apply(database, listener.events)
    async with served(create_app(api_settings, auth_keys=FORGE.key_source())) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            now = await http.get("/api/playback/now", headers=bearer(listener.user_id))
            nothing = await http.get("/api/playback/now", headers=bearer(new_user()))

    assert now.status_code == 200
    body = now.json()
    assert body["track"]["id"] == "track-5"
    assert body["is_playing"] is False
    assert body["progress_ms"] == 40_000
    assert body["device"]["name"] == "Phone"
    assert body["sequence"] == 2
    assert nothing.status_code == 204 and nothing.content == b""


async def test_history_pages_newest_first_and_filters_by_period(
    database: Database, api_settings: PlaybackSettings, unique: str
) -> None:
    listener = three_plays_then_listening(new_user())
    await apply(database, listener.events)
    headers = bearer(listener.user_id)
    async with served(create_app(api_settings, auth_keys=FORGE.key_source())) as url:
        async with httpx.AsyncClient(base_url=url, headers=headers) as http:
            first = (await http.get("/api/playback/history", params={"limit": 2})).json()
            second = (
                await http.get(
                    "/api/playback/history", params={"limit": 2, "cursor": first["next_cursor"]}
                )
            ).json()
            # The second play started 200 s + 1 h after the first.
            period = {
                "from": (T0 + timedelta(seconds=100)).isoformat(),
                "to": (T0 + timedelta(seconds=4000)).isoformat(),
            }
            within = (await http.get("/api/playback/history", params=period)).json()

    assert [p["track"]["id"] for p in first["items"]] == ["track-1", "track-2"]
    assert first["next_cursor"]
    assert [p["track"]["id"] for p in second["items"]] == ["track-1"]
    assert second["next_cursor"] is None
    assert [p["track"]["id"] for p in within["items"]] == ["track-2"]
    assert within["items"][0]["listened_ms"] == 200_000


async def test_bad_queries_are_problem_details(api_settings: PlaybackSettings, unique: str) -> None:
    headers = bearer(new_user())
    async with served(create_app(api_settings, auth_keys=FORGE.key_source())) as url:
        async with httpx.AsyncClient(base_url=url, headers=headers) as http:
            cursor = await http.get("/api/playback/history", params={"cursor": "not-a-cursor"})
            backwards = await http.get(
                "/api/playback/stats",
                params={"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
            )
            naive = await http.get("/api/playback/history", params={"from": "2026-03-01T00:00"})
            too_many = await http.get("/api/playback/history", params={"limit": 10_000})
            resume = await http.get("/api/playback/stream", headers={"Last-Event-ID": "x"})

    for response, status, code in (
        (cursor, 400, "invalid_cursor"),
        (backwards, 400, "invalid_period"),
        (naive, 422, "validation_error"),
        (too_many, 422, "validation_error"),
        (resume, 400, "invalid_last_event_id"),
    ):
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == code


async def test_stats_are_top_tracks_top_artists_and_listening_time(
    database: Database, api_settings: PlaybackSettings, unique: str
) -> None:
    listener = three_plays_then_listening(new_user())
    await apply(database, listener.events)
    async with served(create_app(api_settings, auth_keys=FORGE.key_source())) as url:
        async with httpx.AsyncClient(base_url=url, headers=bearer(listener.user_id)) as http:
            everything = (await http.get("/api/playback/stats")).json()
            last_two = (
                await http.get(
                    "/api/playback/stats", params={"from": (T0 + timedelta(hours=1)).isoformat()}
                )
            ).json()

    assert everything["plays"] == 3
    assert everything["listened_ms"] == 600_000
    assert [(t["track"]["id"], t["plays"]) for t in everything["top_tracks"]] == [
        ("track-1", 2),
        ("track-2", 1),
    ]
    assert [(a["id"], a["plays"]) for a in everything["top_artists"]] == [
        ("artist-9", 2),
        ("artist-2", 1),
    ]
    assert everything["from"] is None
    assert last_two["plays"] == 2 and last_two["from"].startswith("2026-03-01T13:00")


async def test_an_erased_user_sees_nothing(
    database: Database, api_settings: PlaybackSettings, unique: str
) -> None:
    listener = three_plays_then_listening(new_user())
    await apply(database, listener.events)
    settings = api_settings.model_copy(update={"consume": True})
    headers = bearer(listener.user_id)
    async with served(create_app(settings, auth_keys=FORGE.key_source())) as url:
        async with httpx.AsyncClient(base_url=url, headers=headers) as http:
            assert (await http.get("/api/playback/now")).status_code == 200
            key, value, record_headers = to_kafka(
                user_deleted_event(UserDeleted(user_id=listener.user_id, deleted_at=T0))
            )
            await publish_raw(
                settings.kafka_bootstrap, settings.users_topic, key, value, record_headers
            )

            async def erased() -> bool:
                return (await http.get("/api/playback/now")).status_code == 204

            await eventually(erased)
            history = (await http.get("/api/playback/history")).json()
            stats = (await http.get("/api/playback/stats")).json()

    assert history == {"items": [], "next_cursor": None}
    assert stats["plays"] == 0 and stats["top_tracks"] == [] and stats["top_artists"] == []


async def test_every_route_documents_its_problems(api_settings: PlaybackSettings) -> None:
    openapi = create_app(api_settings, auth_keys=FORGE.key_source()).openapi()
    routes = {
        (path, method): operation
        for path, operations in openapi["paths"].items()
        if path.startswith("/api/playback/")
        for method, operation in operations.items()
    }
    assert set(routes) == {
        ("/api/playback/now", "get"),
        ("/api/playback/history", "get"),
        ("/api/playback/stats", "get"),
        ("/api/playback/stream", "get"),
        ("/api/playback/player/play", "post"),
        ("/api/playback/player/pause", "post"),
        ("/api/playback/player/next", "post"),
        ("/api/playback/player/previous", "post"),
    }
    for (path, _), operation in routes.items():
        responses = operation["responses"]
        assert "application/problem+json" in responses["401"]["content"], path
        if path.startswith("/api/playback/player/"):
            assert {"204", "403", "409", "429", "503"} <= responses.keys(), path
    assert (
        "text/event-stream"
        in routes[("/api/playback/stream", "get")]["responses"]["200"]["content"]
    )
