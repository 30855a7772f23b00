"""Prometheus metrics of the consumers (no user ids in labels: the label sets are fixed)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class ConsumerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.events = Counter(
            "playback_events",
            "Playback events consumed, by what became of them",
            ["outcome"],
            registry=registry,
        )
        for outcome in (
            "applied",
            "skipped_already_applied",
            "dropped_erased_user",
            "dead_lettered",
        ):
            self.events.labels(outcome)
        self.sequence_gaps = Counter(
            "playback_sequence_gaps",
            "Times a user's event sequence jumped ahead (events lost before the projection)",
            registry=registry,
        )
        self.missing_events = Counter(
            "playback_sequence_missing_events",
            "Sequence numbers skipped over by those jumps",
            registry=registry,
        )
        self.plays = Counter(
            "playback_plays_recorded", "Plays added to histories", registry=registry
        )
        self.transient_failures = Counter(
            "playback_store_transient_failures",
            "Database failures that were retried (never dead-lettered)",
            ["consumer"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "playback_batch_apply_seconds",
            "Time to decode, apply and commit one batch of playback events",
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.users_erased = Counter(
            "playback_users_erased", "Users whose data was erased", registry=registry
        )
        self.unreadable_user_events = Counter(
            "playback_unreadable_user_events",
            "Records on the user lifecycle topic that could not be read",
            registry=registry,
        )
