"""The CloudEvents 1.0 envelope and its Kafka binary-mode mapping."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

SPEC_VERSION = "1.0"
JSON = "application/json"

DataT = TypeVar("DataT", bound=BaseModel)


class MalformedEvent(ValueError):
    """A Kafka record that is not a valid Backbeat CloudEvent; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RecordPosition(Protocol):
    """Where a Kafka record stands (aiokafka's ConsumerRecord is one)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


def log_unreadable(
    logger: logging.Logger,
    message: str,
    error: MalformedEvent,
    record: RecordPosition,
    *,
    level: int = logging.WARNING,
) -> None:
    """The one line for a record a reader passes over: why it could not be read and where it
    stands, never what it holds (it may carry a user's data)."""
    logger.log(
        level,
        message,
        extra={
            "reason": error.reason,
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
        },
    )


class CloudEvent(BaseModel, Generic[DataT]):
    """A CloudEvents 1.0 event whose ``data`` is a typed model."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    type: str
    subject: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    specversion: str = SPEC_VERSION
    datacontenttype: str = JSON
    data: DataT


KafkaHeaders = list[tuple[str, bytes]]


def to_kafka(event: CloudEvent[Any]) -> tuple[bytes, bytes, KafkaHeaders]:
    """Binary mode: (key = subject, value = JSON data, headers = ce_* attributes)."""
    headers: KafkaHeaders = [
        ("ce_specversion", event.specversion.encode()),
        ("ce_id", event.id.encode()),
        ("ce_source", event.source.encode()),
        ("ce_type", event.type.encode()),
        ("ce_subject", event.subject.encode()),
        ("ce_time", event.time.isoformat().encode()),
        ("content-type", event.datacontenttype.encode()),
    ]
    return event.subject.encode(), event.data.model_dump_json().encode(), headers


def read_attributes(headers: KafkaHeaders | tuple[tuple[str, bytes], ...]) -> dict[str, str]:
    """The ``ce_*`` attributes of a record, without the prefix; ``content-type`` as given."""
    attributes: dict[str, str] = {}
    for name, raw in headers:
        try:
            value = raw.decode()
        except UnicodeDecodeError as exc:
            raise MalformedEvent(f"header {name} is not UTF-8") from exc
        if name.startswith("ce_"):
            attributes[name[3:]] = value
        elif name == "content-type":
            attributes["datacontenttype"] = value
    return attributes


def read_record(
    key: bytes | None,
    value: bytes | None,
    headers: KafkaHeaders | tuple[tuple[str, bytes], ...],
    data_model: type[DataT],
) -> tuple[dict[str, str], DataT]:
    """The checked ``ce_*`` attributes and the validated data of a binary-mode record, without
    building the envelope (for hot consumers); ``MalformedEvent`` says why it is not one."""
    attributes = read_attributes(headers)
    for required in ("specversion", "id", "source", "type", "subject"):
        if required not in attributes:
            raise MalformedEvent(f"missing header ce_{required}")
    if attributes["specversion"] != SPEC_VERSION:
        raise MalformedEvent(f"unsupported specversion {attributes['specversion']}")
    if key is None or key.decode(errors="replace") != attributes["subject"]:
        raise MalformedEvent("record key does not match ce_subject")
    if value is None:
        raise MalformedEvent("record has no value")
    try:
        data = data_model.model_validate_json(value)
    except ValueError as exc:
        raise MalformedEvent(f"data does not match {data_model.__name__}: {exc}") from exc
    return attributes, data


def from_kafka(
    key: bytes | None,
    value: bytes | None,
    headers: KafkaHeaders | tuple[tuple[str, bytes], ...],
    data_model: type[DataT],
) -> CloudEvent[DataT]:
    """Parse a binary-mode record, raising ``MalformedEvent`` with the reason when it is not one."""
    attributes, data = read_record(key, value, headers, data_model)
    try:
        return CloudEvent[data_model].model_validate(  # type: ignore[valid-type]
            {
                "id": attributes["id"],
                "source": attributes["source"],
                "type": attributes["type"],
                "subject": attributes["subject"],
                "time": attributes.get("time") or datetime.now(UTC),
                "datacontenttype": attributes.get("datacontenttype", JSON),
                "data": data,
            }
        )
    except ValueError as exc:
        raise MalformedEvent(f"invalid attributes: {exc}") from exc
