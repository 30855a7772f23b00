"""The live hub: fan-out to a user's streams only, resume from memory, and its limits."""

from __future__ import annotations

import pytest

from backbeat.playback.live.frames import LiveEvent
from backbeat.playback.live.hub import LiveHub, StreamEnded


def event(user_id: str, sequence: int) -> LiveEvent:
    return LiveEvent(user_id, sequence, "paused", f"{user_id}:{sequence}".encode())


async def test_an_event_reaches_every_stream_of_its_user_and_no_other() -> None:
    hub = LiveHub()
    phone, laptop = hub.subscribe("ada", None)[0], hub.subscribe("ada", None)[0]
    stranger = hub.subscribe("bo", None)[0]

    hub.publish(event("ada", 1))

    assert (await phone.next(1)) == event("ada", 1)
    assert (await laptop.next(1)) == event("ada", 1)
    assert await stranger.next(0.01) is None


async def test_a_redelivered_event_is_shown_once() -> None:
    hub = LiveHub()
    stream, _ = hub.subscribe("ada", None)
    assert hub.publish(event("ada", 1)) and hub.publish(event("ada", 2))
    assert not hub.publish(event("ada", 2)) and not hub.publish(event("ada", 1))
    assert [await stream.next(1), await stream.next(1), await stream.next(0.01)] == [
        event("ada", 1),
        event("ada", 2),
        None,
    ]


def test_a_resume_replays_what_was_missed_when_memory_reaches_back() -> None:
    hub = LiveHub(events_per_user=3)
    for sequence in range(1, 6):
        hub.publish(event("ada", sequence))

    _, within = hub.subscribe("ada", 2)  # memory holds 3, 4, 5
    _, beyond = hub.subscribe("ada", 1)  # 2 is gone
    _, caught_up = hub.subscribe("ada", 5)
    _, unknown = hub.subscribe("bo", 7)  # nothing remembered for bo

    assert ([e.sequence for e in within.events], within.complete) == ([3, 4, 5], True)
    assert ([e.sequence for e in beyond.events], beyond.complete) == ([3, 4, 5], False)
    assert (caught_up.events, caught_up.complete) == ([], True)
    assert (unknown.events, unknown.complete) == ([], False)


def test_memory_keeps_the_users_seen_most_recently() -> None:
    hub = LiveHub(users=2)
    hub.publish(event("ada", 1))
    hub.publish(event("bo", 1))
    hub.publish(event("ada", 2))
    hub.publish(event("cy", 1))  # bo is the least recent: forgotten

    assert hub.subscribe("bo", 0)[1].events == []
    assert [e.sequence for e in hub.subscribe("ada", 0)[1].events] == [1, 2]


async def test_a_stream_that_falls_behind_is_ended_not_buffered_for_ever() -> None:
    hub = LiveHub(pending_per_stream=2)
    stream, _ = hub.subscribe("ada", None)
    for sequence in range(1, 5):
        hub.publish(event("ada", sequence))

    assert (await stream.next(1)).sequence == 1  # type: ignore[union-attr]
    assert (await stream.next(1)).sequence == 2  # type: ignore[union-attr]
    with pytest.raises(StreamEnded, match="too slow"):
        await stream.next(1)


async def test_a_deleted_user_is_forgotten_their_streams_end_and_late_events_are_dropped() -> None:
    hub = LiveHub()
    hub.publish(event("ada", 1))
    stream, _ = hub.subscribe("ada", None)

    hub.erase("ada")

    with pytest.raises(StreamEnded, match="deleted"):
        await stream.next(1)
    assert not hub.publish(event("ada", 2))
    assert hub.subscribe("ada", 0)[1].events == []


def test_a_closed_stream_is_let_go() -> None:
    hub = LiveHub()
    stream, _ = hub.subscribe("ada", None)
    assert hub.open_streams == 1
    stream.close()
    assert hub.open_streams == 0
