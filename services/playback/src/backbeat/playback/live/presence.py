"""Tells the watcher which users have a live stream open on this instance, on the presence
topic: at once when a user's first stream opens (the watcher polls them at once and then
fast) or their last one closes, and again every ``refresh_s`` while streams stay open, each
record vouching for ``ttl_s``. When this process dies its records simply expire, and the
watcher goes back to polling those users slowly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from backbeat.events.cloudevents import to_kafka
from backbeat.events.presence import StreamPresence, stream_presence_event
from backbeat.runtime.kafka import create_producer

log = logging.getLogger(__name__)


class PresencePublisher:
    """Counts this instance's open streams per user (``changed`` is the hub's callback) and
    publishes them. Losing a record is harmless: the next refresh says the same."""

    def __init__(
        self,
        bootstrap: str,
        *,
        topic: str,
        ttl_s: float,
        refresh_s: float,
        instance_id: str | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if refresh_s >= ttl_s:
            raise ValueError("presence must be refreshed before it expires")
        self.topic = topic
        self.ttl = timedelta(seconds=ttl_s)
        self.refresh_s = refresh_s
        self.instance_id = instance_id or uuid.uuid4().hex
        self._now = now
        self._bootstrap = bootstrap
        # Made in `start`: a producer belongs to the event loop it is created on.
        self._producer: AIOKafkaProducer | None = None
        self._open: dict[str, int] = {}
        # Users whose count changed since the last publication (0 included: say so once).
        self._changed: dict[str, None] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def changed(self, user_id: str, open_streams: int) -> None:
        """The number of the user's streams open on this instance is now ``open_streams``."""
        if open_streams > 0:
            self._open[user_id] = open_streams
        else:
            self._open.pop(user_id, None)
        self._changed[user_id] = None
        self._wake.set()

    @property
    def viewed_users(self) -> int:
        return len(self._open)

    @property
    def started(self) -> bool:
        return self._task is not None

    async def start(self) -> None:
        self._producer = create_producer(
            self._bootstrap, client_id="backbeat-playback-presence", linger_ms=0
        )
        await self._producer.start()
        self._task = asyncio.create_task(self._run(), name="playback-presence")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # The streams end with the process: say so rather than let the watcher wait for expiry.
        if self._producer is None:
            return
        with contextlib.suppress(Exception):
            await self._publish({user_id: 0 for user_id in self._open})
        await self._producer.stop()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_refresh = loop.time() + self.refresh_s
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_refresh - loop.time())):
                    await self._wake.wait()
            self._wake.clear()
            if loop.time() >= next_refresh:
                next_refresh = loop.time() + self.refresh_s
                due = {user_id: self._open.get(user_id, 0) for user_id in self._changed}
                due.update(self._open)
            else:
                due = {user_id: self._open.get(user_id, 0) for user_id in self._changed}
            self._changed.clear()
            try:
                await self._publish(due)
            except Exception:  # the next refresh repeats what was lost; the loop must go on
                log.exception("presence not published", extra={"users": len(due)})

    async def _publish(self, counts: dict[str, int]) -> None:
        if not counts or self._producer is None:
            return
        now = self._now()
        expires_at = now + self.ttl
        sent = []
        for user_id, open_streams in counts.items():
            presence = StreamPresence(
                user_id=user_id,
                instance_id=self.instance_id,
                open_streams=open_streams,
                published_at=now,
                expires_at=expires_at,
            )
            key, value, headers = to_kafka(stream_presence_event(presence))
            sent.append(
                await self._producer.send(self.topic, key=key, value=value, headers=headers)
            )
        await asyncio.gather(*sent)
