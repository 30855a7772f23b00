"""Each user's `WatchState` in a compacted changelog topic (key = user id), and reading a
partition of it back when the partition is assigned.

A user's state lives in the changelog partition with the same number as the user's
partition of the connections topic, so whoever owns connections partition ``p`` reads and
writes changelog partition ``p`` only. Records are written in the same Kafka transaction as
the events they account for, and read back with ``read_committed``: a takeover sees exactly
the state of the events that were published, never the state of an aborted transaction.

A partition an instance gives up in a rebalance and gets straight back (the group's sticky
assignment keeps most partitions where they were) is not read again from its beginning: the
instance keeps the states it left (`RetainedStates`) and reads only what was written after.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class RetainedStates:
    """A partition's states as this instance left them, complete up to ``offset`` of the
    changelog partition: what it wrote while it owned the partition was committed (and
    nobody else may write to it while it owns it) before ``offset`` was read."""

    offset: int
    states: dict[str, WatchState]


def encode_state(state: WatchState) -> bytes:
    return StateRecord(state=state).model_dump_json().encode()


def decode_state(value: bytes) -> WatchState:
    return StateRecord.model_validate_json(value).state


async def restore_states(
    bootstrap: str, topic: str, partitions: list[int], *, timeout_s: float = 60.0
) -> dict[int, dict[str, WatchState]]:
    """The latest committed state of every user in ``partitions`` of the changelog, by
    partition."""
    restored = await asyncio.gather(
        *(restore_partition(bootstrap, topic, p, timeout_s=timeout_s) for p in partitions)
    )
    return dict(zip(partitions, restored, strict=True))


async def restore_partition(
    bootstrap: str,
    topic: str,
    partition: int,
    *,
    retained: RetainedStates | None = None,
    timeout_s: float = 60.0,
) -> dict[str, WatchState]:
    """The latest committed state of every user in ``partition`` of the changelog: from its
    beginning, or ``retained`` and what was written after it (a partition that comes back
    after a rebalance: usually nothing).

    Cancelling it stops the read and closes its consumer (a revocation during a restore)."""
    # The last record of each user, decoded once at the end: until the log cleaner has run,
    # the changelog holds a record per poll, many per user, and decoding each one made a
    # takeover of tens of thousands of users outlast the timeout.
    latest: dict[str, bytes | None] = {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="backbeat-watcher-restore",
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        group_id=None,
        **KAFKA_CLIENT_OPTIONS,
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        # Seek before asking for the end: asked first, the end became the position.
        if retained is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, retained.offset)
        # With read_committed this is the last stable offset: nothing past an open
        # transaction, which the caller's producer has already fenced and aborted.
        end = (await consumer.end_offsets([tp]))[tp]
        if retained is not None and retained.offset > end:
            retained = None  # not this log's offset (the topic was recreated): all of it
            await consumer.seek_to_beginning(tp)
        async with asyncio.timeout(timeout_s):
            while end > 0 and await consumer.position(tp) < end:
                batches = await consumer.getmany(tp, timeout_ms=500)
                for record in batches.get(tp, []):
                    if record.key is not None:
                        latest[record.key.decode()] = record.value
    finally:
        await consumer.stop()
    states: dict[str, WatchState] = {} if retained is None else dict(retained.states)
    for decoded, (user_id, value) in enumerate(latest.items(), start=1):
        _apply(states, user_id, value)
        if decoded % _DECODES_PER_TURN == 0:
            # Thousands of users take a while to decode: the scheduler and the consumers
            # get their turn in between.
            await asyncio.sleep(0)
    return states


async def changelog_ends(bootstrap: str, topic: str, partitions: list[int]) -> dict[int, int]:
    """The last stable offset of each of ``partitions`` of the changelog."""
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
        ends = await consumer.end_offsets(assigned)
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


def _apply(states: dict[str, WatchState], user_id: str, value: bytes | None) -> None:
    if value is None:
        states.pop(user_id, None)  # deleted
        return
    try:
        states[user_id] = decode_state(value)
    except ValidationError as exc:
        # A record this version cannot read: the user starts afresh rather than the
        # whole partition failing to load.
        log.error(
            "unreadable watcher state", extra={"user_id": user_id, "errors": exc.error_count()}
        )
