"""User lifecycle events (topic auth.users, key = user id), published by auth's outbox."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from backbeat.events.cloudevents import (
    CloudEvent,
    KafkaHeaders,
    MalformedEvent,
    RecordPosition,
    from_kafka,
    log_unreadable,
    read_attributes,
)

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


class UserLifecycleRecord(RecordPosition, Protocol):
    """A record of ``auth.users`` as a Kafka client hands it over (aiokafka's ConsumerRecord)."""

    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


def deleted_user_id(
    record: UserLifecycleRecord,
    log: logging.Logger,
    *,
    unreadable: str,
    level: int = logging.ERROR,
    on_unreadable: Callable[[], object] | None = None,
) -> str | None:
    """The id of the user a record of ``auth.users`` says was deleted; None for any other
    lifecycle event and for a record that cannot be read, which is logged (``unreadable`` is
    the line, with where the record stands) and reported to ``on_unreadable``."""
    try:
        deleted = deleted_user(record.key, record.value, tuple(record.headers))
    except MalformedEvent as exc:
        log_unreadable(log, unreadable, exc, record, level=level)
        if on_unreadable is not None:
            on_unreadable()
        return None
    return deleted.user_id if deleted is not None else None
