"""Sends records that can never be applied to the dead-letter topic, with the reason.

The dead letter is the original record, byte for byte (key, value, headers), plus headers that
say why and where it came from: ``dlq_reason_code`` (stable: ``malformed``, ``invalid``,
``apply_failed``), ``dlq_reason`` (for people), ``dlq_topic``, ``dlq_partition``, ``dlq_offset``,
``dlq_consumer_group`` and ``dlq_failed_at``. Sending is awaited until the broker acknowledges
it, before the batch's offsets are committed; a crash in between can send a dead letter twice,
never lose one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord

# Enough for a validation message; the record itself carries the full story.
MAX_REASON_CHARS = 2_000


class PoisonCode(StrEnum):
    MALFORMED = "malformed"
    """Not a CloudEvent of a known type, or its data does not match the schema."""
    INVALID = "invalid"
    """Well-formed, but not an event the projection can apply (e.g. a start without a track)."""
    APPLY_FAILED = "apply_failed"
    """The database refused it for a reason that will not go away by retrying."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: ConsumerRecord[Any, Any]
    code: PoisonCode
    reason: str


class DeadLetters:
    def __init__(self, producer: AIOKafkaProducer, topic: str, consumer_group: str) -> None:
        self.producer = producer
        self.topic = topic
        self.consumer_group = consumer_group

    async def send(self, letters: list[DeadLetter]) -> None:
        """Publish ``letters`` and wait until the broker has them all."""
        if not letters:
            return
        failed_at = datetime.now(UTC).isoformat().encode()
        futures = []
        for letter in letters:
            record = letter.record
            headers = [
                *record.headers,
                ("dlq_reason_code", letter.code.value.encode()),
                ("dlq_reason", letter.reason[:MAX_REASON_CHARS].encode()),
                ("dlq_topic", record.topic.encode()),
                ("dlq_partition", str(record.partition).encode()),
                ("dlq_offset", str(record.offset).encode()),
                ("dlq_consumer_group", self.consumer_group.encode()),
                ("dlq_failed_at", failed_at),
            ]
            futures.append(
                await self.producer.send(
                    self.topic, key=record.key, value=record.value, headers=headers
                )
            )
        await asyncio.gather(*futures)
