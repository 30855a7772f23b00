"""The watcher's Prometheus metrics: users owned, polls by outcome, schedule lag, 429s,
catch-ups and events published."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class WatcherMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.registry = registry
        self.users_owned = Gauge(
            "watcher_users_owned", "Users this instance watches", registry=registry
        )
        self.partitions_owned = Gauge(
            "watcher_partitions_owned",
            "Partitions of the connections topic this instance owns",
            registry=registry,
        )
        self.polls = Counter(
            "watcher_polls", "Polls of users' players, by outcome", ["outcome"], registry=registry
        )
        self.schedule_lag = Histogram(
            "watcher_schedule_lag_seconds",
            "How late a poll started after its due time",
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.rate_limited = Counter(
            "watcher_rate_limited", "429 answers from Spotify", registry=registry
        )
        self.in_flight = Gauge("watcher_in_flight", "Spotify requests in flight", registry=registry)
        self.catch_ups = Counter(
            "watcher_catch_ups", "Reads of recently-played after a gap", registry=registry
        )
        self.events_published = Counter(
            "watcher_events_published", "Playback events committed to Kafka", registry=registry
        )
        self.held_users = Gauge(
            "watcher_held_users",
            "Users waiting for Spotify or tokens to come back from an outage",
            registry=registry,
        )
        self.outages = Counter(
            "watcher_outages",
            "Outages of a dependency seen by the watcher, by dependency",
            ["dependency"],
            registry=registry,
        )
        self.commit_failures = Counter(
            "watcher_commit_failures",
            "Kafka transactions that failed and were retried",
            registry=registry,
        )
        self.rate_budget_share = Gauge(
            "watcher_rate_budget_share_per_s",
            "Calls per second this instance may make to each Spotify app: its share of the "
            "app's budget, in proportion to the partitions it owns",
            registry=registry,
        )
        self.rate_pauses_honoured = Counter(
            "watcher_rate_pauses_honoured",
            "429 pauses met by another instance and honoured by this one",
            registry=registry,
        )
