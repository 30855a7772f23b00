"""A shared view of a dependency's health (a Spotify app's Web API, the tokens service), so
that a fault every user meets is handled once rather than by each user backing off alone.

Failures of a few different users in a row, with no success in between, open the breaker:
the dependency is taken to be down. While it is open, the users who need it wait together,
and one of them at a time is polled as a probe every ``probe_interval_s``; the first
success closes the breaker and every waiting user is polled again at once. A single user
whose calls fail never opens it, however often: only different users failing in a row
count, and others' successes reset the count.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class OutageBreaker:
    """Times are seconds on the scheduler's clock."""

    failure_threshold: int = 3
    probe_interval_s: float = 1.0
    # The users whose calls failed since the last success.
    failed_users: set[str] = field(default_factory=set)
    open_since: float | None = None
    probe_at: float = 0.0
    probing: bool = False

    @property
    def is_open(self) -> bool:
        return self.open_since is not None

    def failed(self, now: float, user_id: str) -> None:
        """A call for ``user_id`` failed in a way that may be the dependency's fault."""
        self.failed_users.add(user_id)
        self.probing = False
        if self.is_open:
            self.probe_at = now + self.probe_interval_s
        elif len(self.failed_users) >= self.failure_threshold:
            self.open_since = now
            self.probe_at = now + self.probe_interval_s

    def succeeded(self) -> bool:
        """A call got through; True when that ends an outage."""
        self.failed_users.clear()
        self.probing = False
        ended = self.is_open
        self.open_since = None
        return ended

    def probe_due(self, now: float) -> bool:
        return self.is_open and not self.probing and now >= self.probe_at

    def start_probe(self) -> None:
        self.probing = True

    def probe_abandoned(self, now: float) -> None:
        """The probe poll ended without a verdict (its user went away): probe again soon."""
        if self.probing:
            self.probing = False
            self.probe_at = now
