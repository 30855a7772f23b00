"""The live stream's wire format: a playback event record as a Server-Sent Events frame.

Each frame is one event of the caller's player:

    id: <the user's event sequence>
    event: <kind, e.g. track_started>
    data: <the event as a CloudEvents 1.0 JSON object (structured mode), on one line>

The ``id`` is the per-user sequence, so a client resuming with ``Last-Event-ID`` names a
position in its own stream that every instance understands. A record is read with only a
JSON parse and a few checks (not the full schema): every instance reads every user's events,
and records the projection would refuse are dead-lettered there, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from backbeat.events.cloudevents import MalformedEvent, read_attributes
from backbeat.events.playback import EVENT_TYPE_PREFIX

HEARTBEAT = b": keepalive\n\n"
SNAPSHOT_EVENT = "now_playing"


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One user's playback event, ready to send."""

    user_id: str
    sequence: int
    kind: str
    frame: bytes


def retry_frame(retry_ms: int) -> bytes:
    return f"retry: {retry_ms}\n\n".encode()


def encode_frame(event_id: str | int, event: str, data: Any) -> bytes:
    """An SSE frame; ``data`` is JSON-encoded on a single line (orjson never emits newlines)."""
    return b"".join(
        (
            f"id: {event_id}\nevent: {event}\ndata: ".encode(),
            orjson.dumps(data),
            b"\n\n",
        )
    )


def live_event_from_record(
    key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]] | tuple[Any, ...]
) -> LiveEvent:
    """The live event of a ``playback.events`` record, or ``MalformedEvent`` saying why not."""
    attributes = read_attributes(headers)
    event_type = attributes.get("type", "")
    subject = attributes.get("subject")
    if not event_type.startswith(EVENT_TYPE_PREFIX) or subject is None:
        raise MalformedEvent("not a playback CloudEvent")
    if key is None or key.decode(errors="replace") != subject:
        raise MalformedEvent("record key does not match ce_subject")
    try:
        data = orjson.loads(value or b"")
    except orjson.JSONDecodeError as exc:
        raise MalformedEvent("data is not JSON") from exc
    if not isinstance(data, dict) or data.get("user_id") != subject:
        raise MalformedEvent("data.user_id does not match ce_subject")
    sequence = data.get("sequence")
    kind = data.get("kind")
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
        raise MalformedEvent("data.sequence is not a positive integer")
    if not isinstance(kind, str):
        raise MalformedEvent("data.kind is missing")
    cloud_event = {
        "specversion": attributes.get("specversion", "1.0"),
        "id": attributes.get("id"),
        "source": attributes.get("source"),
        "type": event_type,
        "subject": subject,
        "time": attributes.get("time"),
        "datacontenttype": "application/json",
        "data": data,
    }
    return LiveEvent(subject, sequence, kind, encode_frame(sequence, kind, cloud_event))
