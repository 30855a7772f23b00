"""Reading playback records for the live stream, and the SSE frames made of them."""

from __future__ import annotations

import orjson
import pytest

from backbeat.events.cloudevents import MalformedEvent, to_kafka
from backbeat.events.playback import playback_event
from backbeat.playback.live.frames import encode_frame, live_event_from_record
from tests.playback.scenarios import Listener, track


def test_a_record_becomes_a_frame_with_the_sequence_as_id_and_the_cloudevent_as_data() -> None:
    start = Listener("ada").start(track(1)).events[0]
    key, value, headers = to_kafka(playback_event(start.data, event_id=start.event_id))

    live = live_event_from_record(key, value, headers)

    lines = live.frame.decode().split("\n")
    assert lines[:2] == ["id: 1", "event: track_started"]
    assert lines[3:] == ["", ""]  # one data line, then the blank line that ends the frame
    data = orjson.loads(lines[2].removeprefix("data: "))
    assert data["id"] == start.event_id and data["subject"] == "ada"
    assert data["type"] == "dev.backbeat.playback.track_started.v1"
    assert data["data"]["track"]["id"] == "track-1"
    assert (live.user_id, live.sequence) == ("ada", 1)


def test_a_multi_line_json_value_still_makes_a_one_line_data_field() -> None:
    start = Listener("ada").start(track(1)).events[0]
    key, value, headers = to_kafka(playback_event(start.data))
    pretty = orjson.dumps(orjson.loads(value), option=orjson.OPT_INDENT_2)

    frame = live_event_from_record(key, pretty, headers).frame

    assert frame.count(b"\n") == 4


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda k, v, h: (b"someone-else", v, h), "key"),
        (lambda k, v, h: (k, b"{nope", h), "JSON"),
        (lambda k, v, h: (k, v.replace(b'"sequence":1', b'"sequence":0'), h), "sequence"),
        (lambda k, v, h: (k, v, [(n, b"x.y") if n == "ce_type" else (n, r) for n, r in h]), "not"),
    ],
)
def test_records_the_stream_cannot_use_are_refused_with_a_reason(
    change: object, reason: str
) -> None:
    start = Listener("ada").start(track(1)).events[0]
    key, value, headers = to_kafka(playback_event(start.data))
    with pytest.raises(MalformedEvent, match=reason):
        live_event_from_record(*change(key, value, headers))  # type: ignore[operator]


def test_frames_never_split_data_over_lines() -> None:
    assert encode_frame(3, "now_playing", {"name": "two\nlines"}).count(b"\n") == 4
