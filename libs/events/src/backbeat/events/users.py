"""User lifecycle events (topic auth.users, key = user id), published by auth's outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from backbeat.events.cloudevents import CloudEvent, KafkaHeaders, from_kafka, read_attributes

USER_DELETED_EVENT_TYPE = "dev.backbeat.auth.user_deleted.v1"
SOURCE_AUTH = "backbeat/auth"


class UserDeleted(BaseModel):
    """The user is gone: every service erases what it holds of them."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: Literal[1] = 1
    user_id: str
    deleted_at: datetime


UserDeletedEvent = CloudEvent[UserDeleted]


def user_deleted_event(data: UserDeleted) -> UserDeletedEvent:
    return UserDeletedEvent(
        source=SOURCE_AUTH,
        type=USER_DELETED_EVENT_TYPE,
        subject=data.user_id,
        time=data.deleted_at,
        data=data,
    )


def deleted_user(
    key: bytes | None, value: bytes | None, headers: KafkaHeaders | tuple[tuple[str, bytes], ...]
) -> UserDeleted | None:
    """The deletion a record of ``auth.users`` announces; None for any other lifecycle event.
    Raises ``MalformedEvent`` for a record that is not a readable event."""
    if read_attributes(headers).get("type") != USER_DELETED_EVENT_TYPE:
        return None
    return from_kafka(key, value, headers, UserDeleted).data
