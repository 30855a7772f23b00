"""Which Kafka records are poison, and why: the reasons the dead-letter topic carries."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import ConsumerRecord

from backbeat.events.cloudevents import to_kafka
from backbeat.events.playback import playback_event
from backbeat.playback.consumers.dead_letters import PoisonCode
from backbeat.playback.consumers.playback_events import PoisonRecord, decode_playback_record
from tests.playback.scenarios import Listener, track


def record(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> Any:
    return ConsumerRecord(
        topic="playback.events",
        partition=0,
        offset=7,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=tuple(headers),
    )


def valid() -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    event = Listener("user-1").start(track(1)).events[0]
    return to_kafka(playback_event(event.data, event_id=event.event_id))


def test_a_valid_record_decodes_to_its_event() -> None:
    key, value, headers = valid()
    event = decode_playback_record(record(key, value, headers))
    assert event.event_id == "user-1-1" and event.data.track is not None


@pytest.mark.parametrize(
    ("mangle", "code", "reason_part"),
    [
        (lambda k, v, h: (k, b"{not json", h), PoisonCode.MALFORMED, "PlaybackEventData"),
        (lambda k, v, h: (k, v, [x for x in h if x[0] != "ce_id"]), PoisonCode.MALFORMED, "ce_id"),
        (lambda k, v, h: (b"someone-else", v, h), PoisonCode.MALFORMED, "key"),
        (
            lambda k, v, h: (k, v.replace(b'"track_started"', b'"paused"'), h),
            PoisonCode.MALFORMED,
            "data.kind",
        ),
        (
            lambda k, v, h: (k, v.replace(b'"sequence":1', b'"sequence":0'), h),
            PoisonCode.MALFORMED,
            "sequence",
        ),
    ],
)
def test_unreadable_records_are_poison_with_a_reason(
    mangle: Any, code: PoisonCode, reason_part: str
) -> None:
    key, value, headers = mangle(*valid())
    with pytest.raises(PoisonRecord) as caught:
        decode_playback_record(record(key, value, headers))
    assert caught.value.code is code
    assert reason_part in caught.value.reason


def test_a_track_start_without_a_track_is_invalid() -> None:
    key, value, headers = valid()
    start = value.index(b'"track":{')
    end = value.index(b'"progress_ms"')
    with pytest.raises(PoisonRecord) as caught:
        decode_playback_record(record(key, value[:start] + b'"track":null,' + value[end:], headers))
    assert caught.value.code is PoisonCode.INVALID
