"""This instance's share of each Spotify app's budget, and the 429 pauses shared with the other
instances through Kafka (the reasons for both are in ``domain.budget_share``).

``OwnedBudgetShare`` resizes the budgets as partitions come and go: the watcher calls
``releasing`` before it lets partitions go and ``taken`` once they are assigned.
``RatePauseChannel`` publishes the 429s this instance meets on the rate-pause topic and
pauses the app's budget here when another instance met one; at start it reads the topic
to its end before the instance joins the group, so an instance started during a pause
honours it from its first poll.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from typing import Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel, ConfigDict, ValidationError

from backbeat.runtime.kafka import KAFKA_CLIENT_OPTIONS, create_producer, start_producer
from backbeat.watcher.adapters.clock import Clock
from backbeat.watcher.consumers.ownership import partition_count
from backbeat.watcher.domain.budget_share import (
    AppPause,
    owned_share,
    pause_for,
    remaining_pause_s,
)
from backbeat.watcher.domain.rate_budget import RateBudgets
from backbeat.watcher.workers.metrics import WatcherMetrics

log = logging.getLogger(__name__)


class OwnedBudgetShare:
    """Keeps ``budgets`` at the share of the partitions this instance owns."""

    def __init__(
        self, budgets: RateBudgets, clock: Clock, metrics: WatcherMetrics, total: int
    ) -> None:
        self._budgets = budgets
        self._clock = clock
        self._metrics = metrics
        self.total = total
        self.owned: set[int] = set()
        self._apply()

    def releasing(self, partitions: Iterable[int]) -> None:
        """Call before the partitions are let go: their share is never spent twice."""
        self.owned.difference_update(partitions)
        self._apply()

    def taken(self, partitions: Iterable[int], total: int | None = None) -> None:
        """Call once the partitions are assigned (``total``: the topic's partition count now,
        should partitions have been added)."""
        if total:
            self.total = total
        self.owned.update(partitions)
        self._apply()

    def _apply(self) -> None:
        share = owned_share(len(self.owned), self.total)
        self._budgets.set_share(share, self._clock.now())
        self._metrics.rate_budget_share.set(self._budgets.share_rate_per_s)
        log.info(
            "rate budget share",
            extra={
                "partitions": len(self.owned),
                "of": self.total,
                "calls_per_s": round(self._budgets.share_rate_per_s, 3),
            },
        )


class RatePauseRecord(BaseModel):
    """The rate-pause topic's value (key = Spotify app id); versioned like the changelog's."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = 1
    spotify_app: str
    paused_until_ms: int
    retry_after_s: float
    # Which instance met the 429: it has paused already and skips its own records.
    instance: str


class RatePauseChannel:
    def __init__(
        self,
        bootstrap: str,
        *,
        topic: str,
        budgets: RateBudgets,
        clock: Clock,
        metrics: WatcherMetrics,
        clock_skew_s: float,
    ) -> None:
        self.topic = topic
        self.instance = uuid.uuid4().hex
        self._bootstrap = bootstrap
        self._budgets = budgets
        self._clock = clock
        self._metrics = metrics
        self._clock_skew_s = clock_skew_s
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        # The latest deadline published per app, so the polls that were already in flight
        # when the first 429 came do not each publish the same pause again.
        self._published_until_ms: dict[str, int] = {}
        self._sending: set[asyncio.Task[None]] = set()

    async def start(self, timeout_s: float = 30.0) -> None:
        """Start both clients and honour what the topic holds now."""
        self._producer = create_producer(self._bootstrap, client_id="backbeat-watcher-rate-pauses")
        await start_producer(self._producer, [self.topic])
        self._consumer = consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id="backbeat-watcher-rate-pauses",
            group_id=None,
            enable_auto_commit=False,
            **KAFKA_CLIENT_OPTIONS,
        )
        await consumer.start()
        partitions = await partition_count(self._bootstrap, self.topic)
        assigned = [TopicPartition(self.topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        pending = {tp for tp in assigned if ends[tp] > 0}
        async with asyncio.timeout(timeout_s):
            while pending:
                batches = await consumer.getmany(*pending, timeout_ms=500)
                for records in batches.values():
                    self._apply_all(records)
                for tp in list(pending):
                    if await consumer.position(tp) >= ends[tp]:
                        pending.discard(tp)

    async def run(self) -> None:
        assert self._consumer is not None, "start first"
        while True:
            batches = await self._consumer.getmany(timeout_ms=1_000)
            for records in batches.values():
                self._apply_all(records)

    async def stop(self) -> None:
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()

    def rate_limited(self, spotify_app: str, retry_after_s: float) -> None:
        """This instance met a 429 (and has paused its own budget): tell the others."""
        pause = pause_for(spotify_app, self._clock.wall_ms(), retry_after_s)
        if pause.paused_until_ms <= self._published_until_ms.get(spotify_app, 0):
            return
        self._published_until_ms[spotify_app] = pause.paused_until_ms
        task = asyncio.create_task(self._publish(pause), name="watcher-rate-pause")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _publish(self, pause: AppPause) -> None:
        record = RatePauseRecord(
            spotify_app=pause.spotify_app,
            paused_until_ms=pause.paused_until_ms,
            retry_after_s=pause.retry_after_s,
            instance=self.instance,
        )
        if self._producer is None:
            return  # not started: nobody else runs either
        try:
            await self._producer.send_and_wait(
                self.topic,
                record.model_dump_json().encode(),
                key=pause.spotify_app.encode(),
            )
        except Exception:
            # The others then meet the 429 themselves and pause on their own; this instance
            # already has.
            log.exception("rate pause not published", extra={"spotify_app": pause.spotify_app})

    def _apply_all(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        for record in records:
            if record.value is None:
                continue
            try:
                pause = RatePauseRecord.model_validate_json(record.value)
            except ValidationError as bad:
                log.error(
                    "unreadable rate pause",
                    extra={"offset": record.offset, "errors": bad.error_count()},
                )
                continue
            self._honour(pause)

    def _honour(self, record: RatePauseRecord) -> None:
        if record.instance == self.instance:
            return  # this instance paused when it met the 429
        pause = AppPause(record.spotify_app, record.paused_until_ms, record.retry_after_s)
        wait = remaining_pause_s(pause, self._clock.wall_ms(), self._clock_skew_s)
        if wait <= 0:
            return
        now = self._clock.now()
        budget = self._budgets.of(pause.spotify_app)
        if now + wait <= budget.paused_until:
            return
        budget.pause(now, wait)
        self._metrics.rate_pauses_honoured.inc()
        log.warning(
            "rate limited elsewhere: pausing too",
            extra={"spotify_app": pause.spotify_app, "wait_s": round(wait, 3)},
        )
