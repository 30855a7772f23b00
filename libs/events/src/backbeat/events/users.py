"""User lifecycle events (topic auth.users, key = user id), published by auth's outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from backbeat.events.cloudevents import CloudEvent

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
