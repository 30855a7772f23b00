"""The consumer of ``auth.users``: a deleted user's playback data is erased.

One record at a time (deletions are rare), committed after the erasure's transaction. Other
lifecycle event types on the topic are not this service's business and are passed over; a
record that cannot be read is logged and counted, not retried forever.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.message import StreamMessage

from backbeat.events.users import deleted_user_id
from backbeat.playback.consumers.metrics import ConsumerMetrics
from backbeat.playback.consumers.retry import RetryPolicy, with_store_retries
from backbeat.playback.store.erasure import Erasure, erase_user
from backbeat.playback.store.failures import TransientStoreFailure
from backbeat.runtime.database import Database

log = logging.getLogger(__name__)


class UserDeletionsConsumer:
    def __init__(self, database: Database, metrics: ConsumerMetrics, retry: RetryPolicy) -> None:
        self.database = database
        self.metrics = metrics
        self.retry = retry

    async def handle(self, record: ConsumerRecord[Any, Any]) -> None:
        user_id = deleted_user_id(
            record,
            log,
            unreadable="unreadable user lifecycle record passed over",
            on_unreadable=self.metrics.unreadable_user_events.inc,
        )
        if user_id is None:
            return

        async def erase() -> Erasure:
            async with self.database.session() as session:
                return await erase_user(session, user_id)

        def count(_: TransientStoreFailure) -> None:
            self.metrics.transient_failures.labels("user_deletions").inc()

        erasure = await with_store_retries(erase, self.retry, on_transient=count)
        self.metrics.users_erased.inc()
        log.info(
            "user's playback data erased",
            extra={"user_id": user_id, "plays_deleted": erasure.plays_deleted},
        )


async def _undecoded(message: StreamMessage[Any]) -> Any:
    return message.raw_message


def subscribe_user_deletions(
    broker: KafkaBroker, consumer: UserDeletionsConsumer, *, topic: str, group_id: str
) -> None:
    async def on_record(message: KafkaMessage) -> None:
        record = message.raw_message
        assert not isinstance(record, tuple)
        await consumer.handle(record)

    broker.subscriber(
        topic,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_undecoded,
    )(on_record)
