"""Playback's settings, read from ``BACKBEAT_PLAYBACK_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr

from backbeat.authn.settings import HandOutClientSettings, TokenPolicySettings
from backbeat.events import topics
from backbeat.runtime.settings import ServiceSettings, service_config

# Development only: the settings validator refuses it outside development and test.
_DEV_CLIENT_SECRET = "backbeat-dev-playback-secret"  # noqa: S105 - refused outside development


class PlaybackSettings(ServiceSettings, TokenPolicySettings, HandOutClientSettings):
    model_config = service_config("PLAYBACK")

    port: int = 8003
    database_url: str = (
        "postgresql+asyncpg://playback:backbeat-dev-playback@127.0.0.1:5432/playback?ssl=disable"
    )
    database_pool_size: int = Field(default=10, ge=1)

    # Who signs the user tokens this service accepts (verified locally from the cached JWKS).
    auth_issuer: str = "http://127.0.0.1:8001"
    auth_jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    user_audience: str = "backbeat"
    # This service's own client at auth, for the service token that tokens asks for (the
    # rest of the hand-out client's settings: HandOutClientSettings).
    client_id: str = "playback"
    client_secret: SecretStr = SecretStr(_DEV_CLIENT_SECRET)
    tokens_timeout_s: float = Field(default=5.0, gt=0)
    # Spotify's Web API (or the fake): player commands go there with the user's access token.
    spotify_api_url: str = "http://127.0.0.1:8090"
    spotify_timeout_s: float = Field(default=10.0, gt=0)

    # The live stream (Server-Sent Events). Every instance tails all partitions of the events
    # topic itself, outside any consumer group, so it sees every user's events whichever
    # instance a user's stream is connected to.
    live_stream: bool = True
    # A comment line this often keeps idle connections (and proxies in between) open.
    stream_heartbeat_s: float = Field(default=15.0, gt=0)
    # What the client waits before reconnecting, sent as the stream's ``retry:`` field.
    stream_retry_ms: int = Field(default=2_000, ge=0)
    # Resuming with Last-Event-ID replays from memory: the last events of each user, for the
    # users seen most recently. Older gaps are bridged with a now-playing snapshot instead.
    stream_replay_events_per_user: int = Field(default=64, ge=1)
    stream_replay_users: int = Field(default=10_000, ge=1)
    # Events waiting for one slow client; beyond it the stream is ended and the client
    # resumes with Last-Event-ID, so one stuck connection never holds memory for ever.
    stream_pending_events: int = Field(default=256, ge=1)
    # Who has a stream open here is published on the presence topic, for the watcher to poll
    # those users fast: at once on a change, and again this often, each record valid for the
    # ttl (a crashed instance's viewers fade out within it).
    presence_topic: str = topics.PLAYBACK_PRESENCE
    presence_refresh_s: float = Field(default=10.0, gt=0)
    presence_ttl_s: float = Field(default=30.0, gt=0)

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
    # 2,000 measured ~7% faster than 1,000 on the apply benchmark (5,589 vs 5,202 events/s).
    batch_max_records: int = Field(default=2000, ge=1, le=10_000)
    # How long a poll waits for records when fewer than a batch are available.
    batch_timeout_ms: int = Field(default=100, ge=1)
    # A transient database failure is retried in place this many times (with backoff) before
    # the batch is handed back to Kafka for redelivery; either way it is never dead-lettered.
    transient_retries: int = Field(default=5, ge=0)
    retry_backoff_initial_s: float = Field(default=0.2, gt=0)
    retry_backoff_max_s: float = Field(default=5.0, gt=0)

    # Applied event ids are kept this long, then pruned (hourly by default). Keep it above the
    # events topic's retention (Kafka's default is 7 days): only an event still in the log can
    # be delivered again.
    processed_events_retention_h: float = Field(default=8 * 24, gt=0)
    processed_events_prune_interval_s: float = Field(default=3600.0, gt=0)

    # The play rule: half the track or four minutes, whichever comes first.
    play_min_fraction: float = Field(default=0.5, gt=0, le=1)
    play_enough_ms: int = Field(default=240_000, gt=0)
