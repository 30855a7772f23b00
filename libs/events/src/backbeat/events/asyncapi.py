"""Generates the AsyncAPI 3.0 document of every topic from the event models.

``python -m backbeat.events.asyncapi > docs/asyncapi.yaml`` rewrites the committed copy; a
test fails when the committed copy and the models disagree.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml
from pydantic import BaseModel

from backbeat.events import topics
from backbeat.events.connections import CONNECTION_EVENT_TYPE, ConnectionState
from backbeat.events.playback import PlaybackEventData, PlaybackEventKind
from backbeat.events.presence import STREAM_PRESENCE_EVENT_TYPE, StreamPresence
from backbeat.events.revocations import SESSION_REVOKED_EVENT_TYPE, SessionRevoked
from backbeat.events.users import USER_DELETED_EVENT_TYPE, UserDeleted

_BINARY_MODE_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_subject", "ce_time"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "description": "Unique per event (UUID)."},
        "ce_source": {"type": "string", "description": "The emitting service."},
        "ce_type": {"type": "string"},
        "ce_subject": {"type": "string", "description": "The user id; equals the record key."},
        "ce_time": {"type": "string", "format": "date-time"},
        "content-type": {"type": "string", "const": "application/json"},
    },
}


def _schema(model: type[BaseModel], defs: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    defs.update(schema.pop("$defs", {}))
    return schema


def _message(name: str, event_types: list[str], payload: str, summary: str) -> dict[str, Any]:
    headers = dict(_BINARY_MODE_HEADERS)
    headers["properties"] = dict(headers["properties"])
    headers["properties"]["ce_type"] = {"type": "string", "enum": event_types}
    return {
        "name": name,
        "summary": summary,
        "contentType": "application/json",
        "headers": headers,
        "payload": {"$ref": f"#/components/schemas/{payload}"},
        "bindings": {"kafka": {"key": {"type": "string", "description": "The user id (UTF-8)."}}},
    }


def build_document() -> dict[str, Any]:
    """The AsyncAPI document, as plain data."""
    schemas: dict[str, Any] = {}
    for model in (PlaybackEventData, ConnectionState, UserDeleted, SessionRevoked, StreamPresence):
        schemas[model.__name__] = _schema(model, schemas)
    messages = {
        "PlaybackEvent": _message(
            "PlaybackEvent",
            [kind.event_type for kind in PlaybackEventKind],
            "PlaybackEventData",
            "A change in a user's Spotify player, in per-user sequence order.",
        ),
        "ConnectionChanged": _message(
            "ConnectionChanged",
            [CONNECTION_EVENT_TYPE],
            "ConnectionState",
            "The latest state of a user's Spotify connection; a tombstone when deleted.",
        ),
        "UserDeleted": _message(
            "UserDeleted",
            [USER_DELETED_EVENT_TYPE],
            "UserDeleted",
            "A user was deleted: every service erases that user's data.",
        ),
        "SessionRevoked": _message(
            "SessionRevoked",
            [SESSION_REVOKED_EVENT_TYPE],
            "SessionRevoked",
            "A session (or every session of a user) ended: its access tokens are refused "
            "everywhere from now on, though they have not expired.",
        ),
        "StreamPresence": _message(
            "StreamPresence",
            [STREAM_PRESENCE_EVENT_TYPE],
            "StreamPresence",
            "How many live streams of a user one playback instance holds open, vouched for "
            "until expires_at: the watcher polls users someone is looking at more often.",
        ),
    }
    channels = {
        "playbackEvents": (topics.PLAYBACK_EVENTS, "PlaybackEvent", "watcher"),
        "spotifyConnections": (topics.SPOTIFY_CONNECTIONS, "ConnectionChanged", "tokens"),
        "authUsers": (topics.AUTH_USERS, "UserDeleted", "auth"),
        "authRevocations": (topics.AUTH_REVOCATIONS, "SessionRevoked", "auth"),
        "playbackPresence": (topics.PLAYBACK_PRESENCE, "StreamPresence", "playback"),
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Backbeat events",
            "version": "1.0.0",
            "description": (
                "Kafka topics of Backbeat. Every record is a CloudEvents 1.0 event in binary "
                "mode: attributes in ce_* headers, the JSON data as the value, the user id "
                "as the key."
            ),
        },
        "channels": {
            channel: {
                "address": address,
                "messages": {message: {"$ref": f"#/components/messages/{message}"}},
            }
            for channel, (address, message, _) in channels.items()
        },
        "operations": {
            f"{producer}Publishes{channel[0].upper()}{channel[1:]}": {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel}"},
            }
            for channel, (_, _, producer) in channels.items()
        },
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def render() -> str:
    text: str = yaml.safe_dump(build_document(), sort_keys=False, allow_unicode=True, width=100)
    return text


if __name__ == "__main__":
    sys.stdout.write(render())
