"""Playback's settings, read from ``BACKBEAT_PLAYBACK_*`` environment variables."""

from __future__ import annotations

from pydantic import Field

from backbeat.events import topics
from backbeat.runtime.settings import ServiceSettings, service_config


class PlaybackSettings(ServiceSettings):
    model_config = service_config("PLAYBACK")

    port: int = 8003
    database_url: str = (
        "postgresql+asyncpg://playback:backbeat-dev-playback@127.0.0.1:5432/playback?ssl=disable"
    )
    database_pool_size: int = Field(default=10, ge=1)

    # Run the Kafka consumers in this process (off for an instance that only serves HTTP).
    consume: bool = True
    consumer_group: str = "backbeat-playback"
    # User deletions are read in a group of their own, so a slow erasure never holds up the
    # playback partitions' rebalances and the reverse.
    erasure_consumer_group: str = "backbeat-playback-erasure"
    events_topic: str = topics.PLAYBACK_EVENTS
    dead_letter_topic: str = topics.PLAYBACK_EVENTS_DEAD_LETTER
    users_topic: str = topics.AUTH_USERS
    events_partitions: int = Field(default=12, ge=1)
    dead_letter_partitions: int = Field(default=3, ge=1)
    users_partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)

    # Records applied in one database transaction: larger batches mean fewer round trips.
    batch_max_records: int = Field(default=1000, ge=1, le=10_000)
    # Transactions applying one batch at once, one per partition in the batch (each user's
    # events are in one partition, so they never touch the same rows).
    concurrent_transactions: int = Field(default=4, ge=1)
    # How long a poll waits for records when fewer than a batch are available.
    batch_timeout_ms: int = Field(default=100, ge=1)
    # A transient database failure is retried in place this many times (with backoff) before
    # the batch is handed back to Kafka for redelivery; either way it is never dead-lettered.
    transient_retries: int = Field(default=5, ge=0)
    retry_backoff_initial_s: float = Field(default=0.2, gt=0)
    retry_backoff_max_s: float = Field(default=5.0, gt=0)

    # The play rule: half the track or four minutes, whichever comes first.
    play_min_fraction: float = Field(default=0.5, gt=0, le=1)
    play_enough_ms: int = Field(default=240_000, gt=0)
