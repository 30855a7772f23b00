"""The consumer of ``auth.users``: a deleted user's Spotify credentials, connect flows and
audit trail are erased, the user is tombstoned and the watcher told to stop.

A consumer group of the service's own: each deletion is handled by one instance, and its
offset is committed only after the erasure's transaction, so a crash repeats it (erasure is
idempotent). A failing database is retried in place with backoff, never skipped; a record
that cannot be read is logged and passed over. Other lifecycle event types are not this
service's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.structs import OffsetAndMetadata
from sqlalchemy.exc import DBAPIError

from backbeat.events.users import deleted_user_id
from backbeat.runtime.database import Database
from backbeat.runtime.kafka import (
    KAFKA_CLIENT_OPTIONS,
    TopicSpec,
    ensure_topics,
    follow_reconnecting,
)
from backbeat.runtime.retry import retry_until_it_works
from backbeat.tokens.service.erasure import erase_user

log = logging.getLogger(__name__)


class UserDeletionsConsumer:
    """Erases each deleted user, in the order of their partition, until stopped."""

    def __init__(
        self,
        database: Database,
        *,
        bootstrap: str,
        users_topic: TopicSpec,
        group_id: str,
        connections_topic: str,
        on_erased: Callable[[str], None] = lambda user_id: None,
        max_backoff_s: float = 10.0,
    ) -> None:
        self.database = database
        self.bootstrap = bootstrap
        self.users_topic = users_topic
        self.group_id = group_id
        self.connections_topic = connections_topic
        self.on_erased = on_erased
        self.max_backoff_s = max_backoff_s
        self.erased = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Consume in the background; Kafka being away only delays erasures."""
        self._task = asyncio.create_task(self._run(), name="tokens-user-deletions")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        await follow_reconnecting(
            self._consume, what="user deletions consumer", max_backoff_s=self.max_backoff_s
        )

    async def _consume(self) -> None:
        await ensure_topics(self.bootstrap, [self.users_topic])
        consumer = AIOKafkaConsumer(
            self.users_topic.name,
            bootstrap_servers=self.bootstrap,
            client_id="backbeat-tokens-user-deletions",
            group_id=self.group_id,
            enable_auto_commit=False,
            # A deletion published before this group first joined still has to be erased.
            auto_offset_reset="earliest",
            **KAFKA_CLIENT_OPTIONS,
        )
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=1_000, max_records=100)
                for partition, records in batches.items():
                    for record in records:
                        await self._handle(record)
                        await consumer.commit({partition: OffsetAndMetadata(record.offset + 1, "")})
        finally:
            await consumer.stop()

    async def _handle(self, record: ConsumerRecord[Any, Any]) -> None:
        user_id = deleted_user_id(
            record, log, unreadable="unreadable user lifecycle record passed over"
        )
        if user_id is None:
            return

        def failed(exc: BaseException, wait_s: float) -> None:
            log.warning(
                "erasure failed; retrying",
                extra={"error": type(exc).__name__, "retry_in_s": wait_s},
            )

        # The record's offset is committed only once the erasure is: it is retried until the
        # database takes it, never skipped.
        async for attempt in retry_until_it_works(
            (DBAPIError, OSError), first_s=0.2, max_s=self.max_backoff_s, on_retry=failed
        ):
            with attempt:
                erasure = await erase_user(
                    self.database, user_id, now=datetime.now(UTC), topic=self.connections_topic
                )
        self.erased += 1
        self.on_erased(user_id)
        log.info(
            "user's Spotify credentials erased",
            extra={
                "user_id": user_id,
                "credentials_deleted": erasure.credentials_deleted,
                "audit_rows_deleted": erasure.audit_rows_deleted,
            },
        )
