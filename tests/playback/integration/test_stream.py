"""The live stream over real sockets: events from Kafka reach the caller's open stream on any
instance, a resumed stream gets what it missed, idle streams stay open, and streams end
cleanly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import httpx
import pytest

from backbeat.events.cloudevents import to_kafka
from backbeat.events.users import UserDeleted, user_deleted_event
from backbeat.playback.app import create_app
from backbeat.playback.live.hub import LiveHub
from backbeat.playback.settings import PlaybackSettings
from backbeat.runtime.database import Database
from backbeat.runtime.testing import ServiceProcess, StaticJson, free_port
from tests.playback.integration.harness import all_committed, eventually, publish, publish_raw
from tests.playback.integration.service import (
    FORGE,
    ISSUER,
    event_stream,
    new_user,
    served,
)
from tests.playback.scenarios import T0, Listener, track

pytestmark = pytest.mark.integration


@pytest.fixture
def stream_settings(api_settings: PlaybackSettings) -> PlaybackSettings:
    return api_settings.model_copy(update={"live_stream": True})


async def test_an_event_published_to_kafka_reaches_the_connected_client(
    stream_settings: PlaybackSettings,
) -> None:
    listener = Listener(new_user()).start(track(1)).wait(30).pause(30_000)
    other = Listener(new_user()).start(track(2))
    async with served(create_app(stream_settings, auth_keys=FORGE.key_source())) as url:
        async with httpx.AsyncClient(timeout=30) as http:
            async with event_stream(http, url, listener.user_id) as stream:
                await publish(
                    stream_settings.kafka_bootstrap,
                    stream_settings.events_topic,
                    [*other.events, *listener.events],
                )
                started, paused = await stream.next(), await stream.next()

    assert (started.id, started.event) == ("1", "track_started")
    assert (paused.id, paused.event) == ("2", "paused")
    assert started.data["id"] == listener.events[0].event_id
    assert started.data["type"] == "dev.backbeat.playback.track_started.v1"
    assert started.data["data"]["track"]["id"] == "track-1"
    assert paused.data["data"]["progress_ms"] == 30_000 and not paused.data["data"]["is_playing"]


async def test_a_resumed_stream_gets_the_events_it_missed(
    stream_settings: PlaybackSettings,
) -> None:
    listener = Listener(new_user()).start(track(1)).wait(30).pause(30_000).wait(5)
    listener.resume(30_000).wait(170).end().start(track(2))
    first, missed = listener.events[:1], listener.events[1:]
    bootstrap, topic = stream_settings.kafka_bootstrap, stream_settings.events_topic
    async with served(create_app(stream_settings, auth_keys=FORGE.key_source())) as url:
        async with httpx.AsyncClient(timeout=30) as http:
            async with event_stream(http, url, listener.user_id) as stream:
                await publish(bootstrap, topic, first)
                assert (await stream.next()).id == "1"
            # Disconnected. Another tab of the same user shows the events arriving meanwhile.
            async with event_stream(http, url, listener.user_id) as other_tab:
                await publish(bootstrap, topic, missed)
                await other_tab.until(lambda event: event.id == "5")
            async with event_stream(http, url, listener.user_id, last_event_id="1") as resumed:
                replayed = await resumed.until(lambda event: event.id == "5")

    assert [(event.id, event.event) for event in replayed] == [
        ("2", "paused"),
        ("3", "resumed"),
        ("4", "track_ended"),
        ("5", "track_started"),
    ]
    assert replayed[-1].data["data"]["track"]["id"] == "track-2"


async def test_a_resume_from_beyond_memory_starts_with_the_now_playing_state(
    database: Database, stream_settings: PlaybackSettings
) -> None:
    settings = stream_settings.model_copy(
        update={"consume": True, "stream_replay_events_per_user": 2}
    )
    listener = Listener(new_user()).listen_through(track(1)).start(track(2)).wait(10)
    listener.pause(10_000)
    async with served(create_app(settings, auth_keys=FORGE.key_source())) as url:
        async with httpx.AsyncClient(timeout=30) as http:
            async with event_stream(http, url, listener.user_id) as stream:
                await publish(settings.kafka_bootstrap, settings.events_topic, listener.events)
                await stream.until(lambda event: event.id == "4")
            await eventually(lambda: all_committed(settings, len(listener.events)))
            async with event_stream(http, url, listener.user_id, last_event_id="1") as resumed:
                snapshot = await resumed.next()

    assert (snapshot.id, snapshot.event) == ("4", "now_playing")
    assert snapshot.data["track"]["id"] == "track-2"
    assert snapshot.data["is_playing"] is False and snapshot.data["progress_ms"] == 10_000


async def test_an_idle_stream_gets_heartbeats_and_a_closed_one_is_let_go(
    stream_settings: PlaybackSettings,
) -> None:
    settings = stream_settings.model_copy(update={"stream_heartbeat_s": 0.2})
    app = create_app(settings, auth_keys=FORGE.key_source())
    hub: LiveHub = app.state.live_hub
    listener = Listener(new_user()).start(track(1))
    async with served(app) as url:
        async with httpx.AsyncClient(timeout=30) as http:
            async with event_stream(http, url, listener.user_id) as stream:
                await asyncio.sleep(1.0)
                await publish(settings.kafka_bootstrap, settings.events_topic, listener.events)
                await stream.next()
                assert stream.comments >= 2
                assert hub.open_streams == 1

            async def let_go() -> bool:
                return hub.open_streams == 0

            await eventually(let_go)


async def test_a_deleted_users_stream_ends(stream_settings: PlaybackSettings) -> None:
    user_id = new_user()
    async with served(create_app(stream_settings, auth_keys=FORGE.key_source())) as url:
        async with httpx.AsyncClient(timeout=30) as http:
            async with event_stream(http, url, user_id) as stream:
                key, value, headers = to_kafka(
                    user_deleted_event(UserDeleted(user_id=user_id, deleted_at=T0))
                )
                await publish_raw(
                    stream_settings.kafka_bootstrap,
                    stream_settings.users_topic,
                    key,
                    value,
                    headers,
                )
                with pytest.raises(EOFError):
                    await stream.next()


@pytest.fixture
def two_instances(
    database: Database, stream_settings: PlaybackSettings
) -> Iterator[list[ServiceProcess]]:
    """Two ``python -m backbeat.playback`` processes sharing the topics and the database. The
    first runs the consumer group (and so owns every partition in it); the second only serves
    HTTP, so its streams can get events only from its own tail of the topic. (Both in the group
    works the same, but makes the test wait for a group rebalance.)"""
    settings = stream_settings
    with StaticJson(FORGE.jwks()) as jwks:
        instances = []
        try:
            for n in range(2):
                port = free_port()
                instance = ServiceProcess(
                    f"playback-{n}",
                    "backbeat.playback",
                    port,
                    env={
                        "BACKBEAT_PLAYBACK_PORT": str(port),
                        "BACKBEAT_PLAYBACK_DATABASE_URL": settings.database_url,
                        "BACKBEAT_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
                        "BACKBEAT_PLAYBACK_AUTH_ISSUER": ISSUER,
                        "BACKBEAT_PLAYBACK_AUTH_JWKS_URL": jwks.url,
                        "BACKBEAT_PLAYBACK_EVENTS_TOPIC": settings.events_topic,
                        "BACKBEAT_PLAYBACK_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
                        "BACKBEAT_PLAYBACK_USERS_TOPIC": settings.users_topic,
                        "BACKBEAT_PLAYBACK_REVOCATIONS_TOPIC": settings.revocations_topic,
                        "BACKBEAT_PLAYBACK_PRESENCE_TOPIC": settings.presence_topic,
                        "BACKBEAT_PLAYBACK_CONSUMER_GROUP": settings.consumer_group,
                        "BACKBEAT_PLAYBACK_ERASURE_CONSUMER_GROUP": settings.erasure_consumer_group,
                        "BACKBEAT_PLAYBACK_EVENTS_PARTITIONS": str(settings.events_partitions),
                        "BACKBEAT_PLAYBACK_CONSUME": "true" if n == 0 else "false",
                    },
                )
                instances.append(instance)
                instance.start(timeout_s=60)
            yield instances
        finally:
            for instance in instances:
                instance.stop()


async def test_with_two_instances_a_client_connected_to_either_gets_the_event(
    two_instances: list[ServiceProcess], stream_settings: PlaybackSettings
) -> None:
    first, second = two_instances
    # Users on every partition: whichever instance the group gave a user's partition to,
    # both instances stream it.
    listeners = [Listener(new_user()).start(track(n)) for n in range(6)]
    async with httpx.AsyncClient(timeout=30) as http, contextlib.AsyncExitStack() as streams:
        on_first = await streams.enter_async_context(
            event_stream(http, first.url, listeners[0].user_id)
        )
        on_second = await streams.enter_async_context(
            event_stream(http, second.url, listeners[0].user_id)
        )
        others = [
            await streams.enter_async_context(
                event_stream(http, (first, second)[n % 2].url, listener.user_id)
            )
            for n, listener in enumerate(listeners[1:], start=1)
        ]
        events = [event for listener in listeners for event in listener.events]
        await publish(stream_settings.kafka_bootstrap, stream_settings.events_topic, events)
        received = [await on_first.next(), await on_second.next()]
        received += [await stream.next() for stream in others]

    expected = [listeners[0], listeners[0], *listeners[1:]]
    assert [event.data["subject"] for event in received] == [
        listener.user_id for listener in expected
    ]
    assert all(event.event == "track_started" and event.id == "1" for event in received)
