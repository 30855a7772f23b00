"""The hub reports how many streams of each user are open here: the presence the watcher
polls by."""

from __future__ import annotations

from backbeat.playback.live.hub import LiveHub


def test_each_open_and_close_of_a_users_streams_is_reported_with_the_count() -> None:
    seen: list[tuple[str, int]] = []
    hub = LiveHub(on_viewers=lambda user_id, streams: seen.append((user_id, streams)))
    first, _ = hub.subscribe("u1", None)
    second, _ = hub.subscribe("u1", None)
    hub.subscribe("u2", None)
    first.close()
    first.close()  # closing twice reports once
    second.close()
    assert seen == [("u1", 1), ("u1", 2), ("u2", 1), ("u1", 1), ("u1", 0)]


def test_a_deleted_users_streams_are_reported_closed() -> None:
    seen: list[tuple[str, int]] = []
    hub = LiveHub(on_viewers=lambda user_id, streams: seen.append((user_id, streams)))
    stream, _ = hub.subscribe("u1", None)
    hub.erase("u1")
    stream.close()
    assert seen == [("u1", 1), ("u1", 0)]
