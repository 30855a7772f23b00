"""Session revocations (topic auth.revocations, key = user id), published by auth's outbox.

Every service that accepts user access tokens reads the topic from its beginning and refuses
the tokens of a revoked session at once, instead of when they expire. A record only matters
until the last token it covers has expired, so the topic's retention is a little longer than
the longest access-token lifetime.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from backbeat.events.cloudevents import CloudEvent
from backbeat.events.users import SOURCE_AUTH

SESSION_REVOKED_EVENT_TYPE = "dev.backbeat.auth.session_revoked.v1"


class RevocationReason(StrEnum):
    SIGN_OUT = "sign_out"
    REFRESH_TOKEN_REUSED = "refresh_token_reused"  # noqa: S105 - a reason, not a secret
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a reason, not a secret
    ACCOUNT_DELETED = "account_deleted"


class SessionRevoked(BaseModel):
    """The access tokens of a session (or, with no ``session_id``, of every session of the
    user) must not be accepted any more, though their signatures still verify."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: Literal[1] = 1
    user_id: str
    # None: every session of the user (the account is gone).
    session_id: str | None = None
    reason: RevocationReason
    revoked_at: datetime
    # No token the revocation covers is valid after this (its issue time plus auth's
    # access-token lifetime); past it the record can be forgotten.
    expires_at: datetime


SessionRevokedEvent = CloudEvent[SessionRevoked]


def session_revoked_event(data: SessionRevoked) -> SessionRevokedEvent:
    return SessionRevokedEvent(
        source=SOURCE_AUTH,
        type=SESSION_REVOKED_EVENT_TYPE,
        subject=data.user_id,
        time=data.revoked_at,
        data=data,
    )
