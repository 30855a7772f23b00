"""Settings of the watcher (environment variables ``BACKBEAT_WATCHER_*``; the Kafka address
is the shared ``BACKBEAT_KAFKA_BOOTSTRAP``)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from backbeat.authn.settings import HandOutClientSettings
from backbeat.events import topics
from backbeat.runtime.settings import ServiceSettings, service_config
from backbeat.watcher.domain.backoff import Backoff
from backbeat.watcher.domain.schedule import PollIntervals

# Development only: the settings validator refuses it outside development and test.
_DEV_CLIENT_SECRET = "backbeat-dev-watcher-secret"  # noqa: S105 - refused outside development


_SCHEDULE = PollIntervals()


class WatcherSettings(ServiceSettings, HandOutClientSettings):
    model_config = service_config("WATCHER")

    port: int = 8004

    # The watcher's own identity at auth (client-credentials grant), to call tokens (the
    # rest of the hand-out client's settings: HandOutClientSettings).
    client_id: str = "watcher"
    client_secret: SecretStr = SecretStr(_DEV_CLIENT_SECRET)
    # A user's access token is used until this long before it expires, then asked for again.
    access_token_margin_s: float = 60.0

    # Spotify (or the fake). The watcher reads the Web API only, with each user's token.
    spotify_api_url: str = "http://127.0.0.1:8090"
    spotify_timeout_s: float = Field(default=5.0, gt=0)

    # Kafka: the group whose partitions of the connections topic are the users owned.
    consumer_group: str = "backbeat-watcher"
    connections_topic: str = topics.SPOTIFY_CONNECTIONS
    events_topic: str = topics.PLAYBACK_EVENTS
    events_partitions: int = 12
    # The compacted changelog of each user's last snapshot and sequence number; it gets as
    # many partitions as the connections topic, partition for partition.
    state_topic: str = "watcher.state"
    transactional_id_prefix: str = "backbeat-watcher"
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 2_000
    # Events and state of a partition are committed together at most this often.
    commit_interval_ms: int = 100
    # Polls without events still save the user's state (what a restart resumes from); such
    # states alone are committed at most this often per partition.
    state_checkpoint_interval_ms: int = Field(default=1_000, gt=0)

    # The adaptive schedule (seconds); the defaults are the schedule's own.
    active_interval_s: float = _SCHEDULE.active_s
    near_end_margin_s: float = _SCHEDULE.near_end_margin_s
    paused_interval_s: float = _SCHEDULE.paused_s
    idle_interval_s: float = _SCHEDULE.idle_s
    long_idle_interval_s: float = _SCHEDULE.long_idle_s
    long_idle_after_s: float = _SCHEDULE.long_idle_after_s
    jitter: float = Field(default=_SCHEDULE.jitter, ge=0.0, lt=1.0)
    # False polls every user every active interval (the fixed schedule, for comparison).
    adaptive: bool = _SCHEDULE.adaptive
    # Users with a live stream open (playback's presence topic) are polled this often.
    viewed_active_interval_s: float = Field(default=_SCHEDULE.viewed_active_s, gt=0)
    viewed_paused_interval_s: float = Field(default=_SCHEDULE.viewed_paused_s, gt=0)
    viewed_idle_interval_s: float = Field(default=_SCHEDULE.viewed_idle_s, gt=0)
    # Plays that begin and end between two idle polls are read from recently-played when the
    # player is next seen alive, or this long after the idle spell began at the latest.
    idle_settle_s: float = Field(default=_SCHEDULE.idle_settle_s, gt=0)
    # Who has a live stream open, published by playback; read from its start at every start.
    presence_topic: str = topics.PLAYBACK_PRESENCE

    # Requests to Spotify in flight at once, for the whole instance: the poll rate times
    # Spotify's latency, with room to spare.
    max_in_flight: int = Field(default=64, ge=1)
    # Each Spotify app's budget: calls per second on average and at most at once, for the
    # whole deployment: each instance spends the share of it that its partitions of the
    # connections topic are of them all. Spotify's limit is per app over a rolling 30 s
    # window; the fake's default is 600 per 30 s.
    rate_budget_per_s: float = Field(default=18.0, gt=0)
    rate_budget_burst: float = Field(default=30.0, ge=1)
    # How long a 429 without Retry-After pauses the budget.
    default_retry_after_s: float = 5.0
    # The compacted topic (key = Spotify app) on which the instance that meets a 429 tells
    # the others to pause until Retry-After, and how far the instances' clocks may disagree
    # (a pause read from another instance lasts this much longer).
    rate_pause_topic: str = "watcher.rate-pauses"
    rate_pause_clock_skew_s: float = Field(default=1.0, ge=0)
    backoff_base_s: float = 2.0
    backoff_max_s: float = 120.0
    # A fault every user meets (Spotify 5xx or timeouts for an app, tokens unreachable): this
    # many failures in a row open the dependency's breaker; its users then wait together
    # while one probe poll tests it this often, and are all polled when it answers.
    outage_failures: int = Field(default=3, ge=1)
    outage_probe_interval_s: float = Field(default=1.0, gt=0)
    # A user whose calls fail permanently (e.g. a scope missing) is tried again this rarely.
    permanent_failure_retry_s: float = 900.0
    # Observations further apart than the schedule's longest interval for the state last
    # seen, plus this, leave a gap that Spotify's recently-played decides (positions cannot).
    gap_slack_s: float = Field(default=2.0, ge=0)

    # Readiness fails when the oldest due poll has waited longer than this.
    ready_max_lag_s: float = 10.0

    def poll_intervals(self) -> PollIntervals:
        return PollIntervals(
            active_s=self.active_interval_s,
            near_end_margin_s=self.near_end_margin_s,
            paused_s=self.paused_interval_s,
            idle_s=self.idle_interval_s,
            long_idle_s=self.long_idle_interval_s,
            long_idle_after_s=self.long_idle_after_s,
            jitter=self.jitter,
            adaptive=self.adaptive,
            viewed_active_s=self.viewed_active_interval_s,
            viewed_paused_s=self.viewed_paused_interval_s,
            viewed_idle_s=self.viewed_idle_interval_s,
            idle_settle_s=self.idle_settle_s,
        )

    def backoff(self) -> Backoff:
        return Backoff(base_s=self.backoff_base_s, cap_s=self.backoff_max_s)
