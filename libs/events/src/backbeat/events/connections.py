"""Spotify connection states (compacted topic spotify.connections, key = user id)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from backbeat.events.cloudevents import CloudEvent

CONNECTION_EVENT_TYPE = "dev.backbeat.spotify.connection_changed.v1"
SOURCE_TOKENS = "backbeat/tokens"


class ConnectionStatus(StrEnum):
    CONNECTED = "connected"
    NEEDS_REAUTH = "needs_reauth"
    DISCONNECTED = "disconnected"


class ConnectionState(BaseModel):
    """The latest state of a user's Spotify connection; the newest record per key wins."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: Literal[1] = 1
    user_id: str
    status: ConnectionStatus
    scopes: list[str] = []
    # The Spotify app (client id) the user authorised: the watcher's rate budget is per app.
    spotify_client_id: str | None = None
    since: datetime


ConnectionEvent = CloudEvent[ConnectionState]


def connection_event(state: ConnectionState) -> ConnectionEvent:
    return ConnectionEvent(
        source=SOURCE_TOKENS,
        type=CONNECTION_EVENT_TYPE,
        subject=state.user_id,
        time=state.since,
        data=state,
    )
