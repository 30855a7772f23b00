"""Which users this instance watches: the partitions of the connections topic that Kafka's
consumer group assigns to it.

On assignment the instance reads each partition of the compacted connections topic from its
beginning, while, in the background, it opens the partition's transactional producer
(fencing a previous owner that may still be running) and reads the partition's changelog
for the users' last states; the partition's connected users are watched once that restore
has finished, each from the state it was left in. The assignment callback itself returns
at once: the group hears no heartbeat from a member until it does. Offsets are never
committed: the compacted topic is the state, read whole each time. On revocation the
partition's users stop being polled, and what is pending is committed before the partition
is let go, so the next owner continues exactly from there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from aiokafka.structs import ConsumerRecord

from backbeat.events.cloudevents import MalformedEvent, from_kafka, log_unreadable
from backbeat.events.connections import ConnectionState, ConnectionStatus
from backbeat.runtime.kafka import KAFKA_CLIENT_OPTIONS

log = logging.getLogger(__name__)

# Connection records applied between two turns of the event loop.
_RECORDS_PER_TURN = 500

PartitionsChanged = Callable[[list[int]], Awaitable[None]]
ConnectionSeen = Callable[[int, str, ConnectionState | None], None]


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, ownership: ConnectionOwnership) -> None:
        self._ownership = ownership

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._ownership.revoked([tp.partition for tp in revoked])

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._ownership.assigned(assigned)


class ConnectionOwnership:
    """Consumes the connections topic as a member of the watcher group."""

    def __init__(
        self,
        bootstrap: str,
        *,
        topic: str,
        group: str,
        session_timeout_ms: int,
        heartbeat_interval_ms: int,
        on_assigned: PartitionsChanged,
        on_revoked: PartitionsChanged,
        on_connection: ConnectionSeen,
    ) -> None:
        self.topic = topic
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked
        self._on_connection = on_connection
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            client_id="backbeat-watcher",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            # A rebalance waits for the revoking member to commit what it has pending.
            rebalance_timeout_ms=max(30_000, session_timeout_ms),
            # Sticky: when an instance leaves or joins, the others keep the partitions they
            # had (and their users' states, see `store.state_store.RetainedStates`) and only
            # the moved ones are restored. Round-robin stays listed so that instances of a
            # version without it still agree on a protocol during a rolling upgrade.
            partition_assignment_strategy=(StickyPartitionAssignor, RoundRobinPartitionAssignor),
            **KAFKA_CLIENT_OPTIONS,
        )
        self.owned: set[int] = set()

    async def start(self) -> None:
        await self.consumer.start()

    def join(self) -> None:
        """Join the group; assignments follow."""
        self.consumer.subscribe([self.topic], listener=_Rebalance(self))

    async def stop(self) -> None:
        await self.consumer.stop()

    async def assigned(self, assigned: list[TopicPartition]) -> None:
        partitions = sorted(tp.partition for tp in assigned)
        log.info("partitions assigned", extra={"partitions": partitions})
        await self._on_assigned(partitions)
        self.owned.update(partitions)
        if assigned:
            await self.consumer.seek_to_beginning(*assigned)

    async def revoked(self, partitions: list[int]) -> None:
        log.info("partitions revoked", extra={"partitions": sorted(partitions)})
        self.owned.difference_update(partitions)
        await self._on_revoked(partitions)

    async def run(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=1_000)
            applied = 0
            for tp, records in batches.items():
                if tp.partition not in self.owned:
                    continue
                for record in records:
                    self._apply(tp.partition, record)
                    applied += 1
                    if applied % _RECORDS_PER_TURN == 0:
                        # A takeover reads tens of thousands of connections: the scheduler
                        # and the group's heartbeats get their turn in between.
                        await asyncio.sleep(0)

    def _apply(self, partition: int, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.key is None:
            return
        user_id = record.key.decode(errors="replace")
        if record.value is None:
            self._on_connection(partition, user_id, None)  # the user was deleted
            return
        try:
            event = from_kafka(record.key, record.value, record.headers, ConnectionState)
        except MalformedEvent as bad:
            log_unreadable(log, "unreadable connection record", bad, record, level=logging.ERROR)
            return
        self._on_connection(partition, user_id, event.data)


def pollable(state: ConnectionState | None) -> bool:
    return state is not None and state.status is ConnectionStatus.CONNECTED


async def partition_count(bootstrap: str, topic: str, timeout_s: float = 30.0) -> int:
    """The topic's partition count, once the cluster knows the topic (a topic just created
    takes a moment to appear everywhere)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="backbeat-watcher-admin", **KAFKA_CLIENT_OPTIONS
    )
    await admin.start()
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                (described,) = await admin.describe_topics([topic])
                if described.get("error_code") == 0 and described.get("partitions"):
                    return len(described["partitions"])
                await asyncio.sleep(0.2)
    finally:
        await admin.close()
