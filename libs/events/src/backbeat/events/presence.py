"""Live-stream presence (compacted topic playback.presence, key = user id), published by every
playback instance for the users who have a live stream open on it.

The watcher polls a user whom someone is looking at much more often than one nobody is. A
record says "instance X holds this many open streams of the user, and vouches for it until
``expires_at``"; the instance publishes again well before then while the streams stay open,
and at once when the first opens or the last closes. A crashed instance publishes nothing
more, so its viewers fade out when their records expire, without anyone cleaning up.

Records of several instances share the user's key: readers keep one entry per instance, and
compaction keeps only the newest record of a key, which is enough because every live entry
is refreshed within its lifetime. The topic's retention drops records of users nobody has
looked at for a while (deleted users' included).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from backbeat.events.cloudevents import CloudEvent, KafkaHeaders, MalformedEvent, read_record

STREAM_PRESENCE_EVENT_TYPE = "dev.backbeat.playback.stream_presence.v1"
SOURCE_PLAYBACK = "backbeat/playback"

# The topic as both its writer (playback) and its reader (the watcher) create it, whichever
# starts first: compacted, and records older than an hour deleted too (every live entry is
# refreshed far more often), in segments small enough for that to happen.
PRESENCE_PARTITIONS = 6
PRESENCE_TOPIC_CONFIG = {
    "cleanup.policy": "compact,delete",
    "retention.ms": str(60 * 60 * 1000),
    "segment.ms": str(10 * 60 * 1000),
}


def presence_from_record(
    key: bytes | None, value: bytes | None, headers: KafkaHeaders | tuple[tuple[str, bytes], ...]
) -> StreamPresence:
    """The presence a record carries; ``MalformedEvent`` when it is not one."""
    attributes, data = read_record(key, value, headers, StreamPresence)
    if attributes["type"] != STREAM_PRESENCE_EVENT_TYPE:
        raise MalformedEvent(f"unexpected event type {attributes['type']}")
    return data


class StreamPresence(BaseModel):
    """How many live streams of ``user_id`` one playback instance holds open."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: Literal[1] = 1
    user_id: str
    # A playback process, unique per start: a restarted instance is a new one.
    instance_id: str
    # 0: the instance's last stream of the user closed.
    open_streams: int = Field(ge=0)
    published_at: datetime
    # Past this, without a newer record from the same instance, the entry counts as gone.
    expires_at: datetime


StreamPresenceEvent = CloudEvent[StreamPresence]


def stream_presence_event(data: StreamPresence) -> StreamPresenceEvent:
    return StreamPresenceEvent(
        source=SOURCE_PLAYBACK,
        type=STREAM_PRESENCE_EVENT_TYPE,
        subject=data.user_id,
        time=data.published_at,
        data=data,
    )
