"""Wires the consumers of one process: the playback events pipeline, the broker of the user
deletions consumer, the dead-letter producer, the handlers."""

from __future__ import annotations

import gc

from backbeat.playback.consumers.batch_pipeline import BatchPipeline
from backbeat.playback.consumers.broker import build_broker
from backbeat.playback.consumers.dead_letters import DeadLetters
from backbeat.playback.consumers.metrics import ConsumerMetrics
from backbeat.playback.consumers.playback_events import (
    DecodedBatch,
    PlaybackEventsConsumer,
    Projection,
)
from backbeat.playback.consumers.retry import RetryPolicy
from backbeat.playback.consumers.user_deletions import (
    UserDeletionsConsumer,
    subscribe_user_deletions,
)
from backbeat.playback.domain.play_rule import PlayRule
from backbeat.playback.settings import PlaybackSettings
from backbeat.playback.store.projection import PlaybackProjection
from backbeat.runtime.database import Database
from backbeat.runtime.kafka import TopicSpec, create_producer


def play_rule(settings: PlaybackSettings) -> PlayRule:
    return PlayRule(min_fraction=settings.play_min_fraction, enough_ms=settings.play_enough_ms)


def topic_specs(settings: PlaybackSettings) -> list[TopicSpec]:
    """The topics the service reads and writes, as its settings size them."""
    replication = settings.replication_factor
    return [
        TopicSpec(settings.events_topic, settings.events_partitions, replication),
        TopicSpec(settings.dead_letter_topic, settings.dead_letter_partitions, replication),
        TopicSpec(settings.users_topic, settings.users_partitions, replication),
    ]


class PlaybackConsumers:
    """The consumers of one process; ``start`` joins the groups, ``stop`` leaves them after
    the batch in hand has committed."""

    def __init__(
        self,
        settings: PlaybackSettings,
        database: Database,
        metrics: ConsumerMetrics,
        *,
        projection: Projection | None = None,
    ) -> None:
        self.broker = build_broker(settings.kafka_bootstrap)
        self.producer = create_producer(
            settings.kafka_bootstrap, client_id="backbeat-playback-dead-letters"
        )
        retry = RetryPolicy(
            retries=settings.transient_retries,
            initial_backoff_s=settings.retry_backoff_initial_s,
            max_backoff_s=settings.retry_backoff_max_s,
        )
        self.playback_events = PlaybackEventsConsumer(
            projection or PlaybackProjection(database, play_rule(settings)),
            DeadLetters(self.producer, settings.dead_letter_topic, settings.consumer_group),
            metrics,
            retry,
        )
        self.pipeline: BatchPipeline[DecodedBatch] = BatchPipeline(
            settings.kafka_bootstrap,
            self.playback_events,
            topic=settings.events_topic,
            group_id=settings.consumer_group,
            max_records=settings.batch_max_records,
            batch_timeout_ms=settings.batch_timeout_ms,
        )
        subscribe_user_deletions(
            self.broker,
            UserDeletionsConsumer(database, metrics, retry),
            topic=settings.users_topic,
            group_id=settings.erasure_consumer_group,
        )

    async def start(self) -> None:
        # Every batch leaves thousands of objects alive across collections (decoded events,
        # the states of ``StateCache``), so the collector's full passes come every few
        # batches, and each walks every object of the process: modules, the framework, the
        # app (measured: about a third of the time to apply a batch). What exists now lives
        # as long as the process; frozen, it is left out of those passes. And a batch makes
        # that many objects that a young collection every 700 allocations (the default) only
        # walks the batch again. A young collection every 200,000 allocations comes after the
        # two batches in hand (the one applying, the one decoded: about 30,000 objects each)
        # are mostly freed, so it walks little: measured, young collections went from about
        # 3.4 us to nearly nothing per event (every 20,000: a tenth less than the default).
        gc.collect()
        gc.freeze()
        gc.set_threshold(200_000, 20, 20)
        await self.producer.start()
        try:
            await self.pipeline.start()
            try:
                await self.broker.start()
            except BaseException:
                await self.pipeline.stop()
                raise
        except BaseException:
            await self.producer.stop()
            raise

    async def stop(self) -> None:
        # The consumers first: their last batch may still be sending dead letters.
        try:
            try:
                await self.pipeline.stop()
            finally:
                await self.broker.stop()
        finally:
            await self.producer.stop()
