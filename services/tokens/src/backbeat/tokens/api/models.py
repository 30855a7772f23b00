"""Request and response bodies of the tokens API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from backbeat.events.connections import ConnectionStatus


class ConnectStarted(BaseModel):
    authorize_url: str


class ConnectionView(BaseModel):
    status: ConnectionStatus
    scopes: list[str]
    since: datetime | None


class HandedOutToken(BaseModel):
    access_token: str
    expires_at: datetime
