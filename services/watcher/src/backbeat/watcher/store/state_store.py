"""Each user's `WatchState` in a compacted changelog topic (key = user id), and reading a
partition of it back when the partition is assigned.

A user's state lives in the changelog partition with the same number as the user's
partition of the connections topic, so whoever owns connections partition ``p`` reads and
writes changelog partition ``p`` only. Records are written in the same Kafka transaction as
the events they account for, and read back with ``read_committed``: a takeover sees exactly
the state of the events that were published, never the state of an aborted transaction.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel, ConfigDict, ValidationError

from backbeat.runtime.kafka import KAFKA_CLIENT_OPTIONS
from backbeat.watcher.domain.timeline import WatchState

log = logging.getLogger(__name__)

_DECODES_PER_TURN = 500


class StateRecord(BaseModel):
    """The changelog's value; versioned so that a later layout can still read this one."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    state: WatchState


def encode_state(state: WatchState) -> bytes:
    return StateRecord(state=state).model_dump_json().encode()


def decode_state(value: bytes) -> WatchState:
    return StateRecord.model_validate_json(value).state


async def restore_states(
    bootstrap: str, topic: str, partitions: list[int], *, timeout_s: float = 60.0
) -> dict[int, dict[str, WatchState]]:
    """The latest committed state of every user in ``partitions`` of the changelog, by
    partition."""
    states: dict[int, dict[str, WatchState]] = {p: {} for p in partitions}
    if not partitions:
        return states
    # The last record of each user, decoded once at the end: until the log cleaner has run,
    # the changelog holds a record per poll, many per user, and decoding each one made a
    # takeover of tens of thousands of users outlast the timeout.
    latest: dict[int, dict[str, bytes | None]] = {p: {} for p in partitions}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="backbeat-watcher-restore",
        enable_auto_commit=False,
        isolation_level="read_committed",
        group_id=None,
        **KAFKA_CLIENT_OPTIONS,
    )
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        # With read_committed this is the last stable offset: nothing past an open
        # transaction, which the caller's producer has already fenced and aborted.
        ends = await consumer.end_offsets(assigned)
        pending = {tp for tp in assigned if ends[tp] > 0}
        async with asyncio.timeout(timeout_s):
            while pending:
                batches = await consumer.getmany(*pending, timeout_ms=500)
                for tp, records in batches.items():
                    last = latest[tp.partition]
                    for record in records:
                        if record.key is not None:
                            last[record.key.decode()] = record.value
                for tp in list(pending):
                    if await consumer.position(tp) >= ends[tp]:
                        pending.discard(tp)
    finally:
        await consumer.stop()
    decoded = 0
    for partition, last in latest.items():
        for user_id, value in last.items():
            _apply(states[partition], user_id, value)
            decoded += 1
            if decoded % _DECODES_PER_TURN == 0:
                # Tens of thousands of users take seconds to decode: the consumer group's
                # heartbeats must go out meanwhile, or the group drops this instance.
                await asyncio.sleep(0)
    return states


def _apply(states: dict[str, WatchState], user_id: str, value: bytes | None) -> None:
    if value is None:
        return  # deleted
    try:
        states[user_id] = decode_state(value)
    except ValidationError as exc:
        # A record this version cannot read: the user starts afresh rather than the
        # whole partition failing to load.
        log.error(
            "unreadable watcher state", extra={"user_id": user_id, "errors": exc.error_count()}
        )
