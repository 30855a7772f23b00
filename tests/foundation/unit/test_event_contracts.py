"""The CloudEvents binary-mode mapping and the committed AsyncAPI document."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from backbeat.events.asyncapi import render
from backbeat.events.cloudevents import MalformedEvent, from_kafka, to_kafka
from backbeat.events.playback import (
    Artist,
    PlaybackEventData,
    PlaybackEventKind,
    Track,
    playback_event,
)

REPO = Path(__file__).resolve().parents[3]


def started(sequence: int = 1) -> PlaybackEventData:
    return PlaybackEventData(
        kind=PlaybackEventKind.TRACK_STARTED,
        user_id="user-1",
        sequence=sequence,
        track=Track(
            id="t1",
            uri="spotify:track:t1",
            name="Song",
            artists=[Artist(id="a1", name="Artist")],
            duration_ms=200_000,
        ),
        progress_ms=0,
        is_playing=True,
        observed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_a_playback_event_round_trips_through_kafka_binary_mode() -> None:
    event = playback_event(started())
    key, value, headers = to_kafka(event)
    assert key == b"user-1"
    assert dict(headers)["ce_type"] == b"dev.backbeat.playback.track_started.v1"
    parsed = from_kafka(key, value, headers, PlaybackEventData)
    assert parsed == event


def test_a_repeated_event_keeps_its_id() -> None:
    first = playback_event(started())
    again = playback_event(started(), event_id=first.id)
    assert again.id == first.id


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda k, v, h: (k, v, [x for x in h if x[0] != "ce_id"]), "missing header ce_id"),
        (lambda k, v, h: (b"user-2", v, h), "key does not match"),
        (lambda k, v, h: (k, b"{not json", h), "data does not match"),
        (lambda k, v, h: (k, None, h), "no value"),
    ],
)
def test_malformed_records_are_rejected_with_a_reason(mutate, reason: str) -> None:
    key, value, headers = to_kafka(playback_event(started()))
    with pytest.raises(MalformedEvent, match=reason):
        from_kafka(*mutate(key, value, headers), PlaybackEventData)


def test_sequence_numbers_start_at_one() -> None:
    with pytest.raises(ValueError, match="sequence"):
        started(sequence=0)


def test_the_committed_asyncapi_document_matches_the_models() -> None:
    committed = (REPO / "docs" / "asyncapi.yaml").read_text()
    assert committed == render(), "docs/asyncapi.yaml is stale: run `make asyncapi`"
