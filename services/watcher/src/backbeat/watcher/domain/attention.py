"""Who is being looked at: the users with a live stream open on some playback instance, from
the presence records the instances publish, each entry valid until the instance's own
expiry, so that the viewers of a crashed instance fade out by themselves."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PresenceReport:
    """One presence record: ``instance_id`` holds ``open_streams`` streams of ``user_id``,
    vouched for until ``expires_at_ms`` (Unix milliseconds)."""

    user_id: str
    instance_id: str
    open_streams: int
    expires_at_ms: int


class ViewerBoard:
    """Per user, the playback instances that hold a stream of theirs open, and until when."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, int]] = {}

    def report(self, report: PresenceReport, now_ms: int) -> bool:
        """Take in ``report``; True when the user was not viewed and now is (someone just
        opened the page: worth a poll at once)."""
        was_viewed = self.viewed(report.user_id, now_ms)
        instances = self._entries.setdefault(report.user_id, {})
        if report.open_streams > 0 and report.expires_at_ms > now_ms:
            instances[report.instance_id] = report.expires_at_ms
        else:
            instances.pop(report.instance_id, None)
        if not instances:
            del self._entries[report.user_id]
        return not was_viewed and self.viewed(report.user_id, now_ms)

    def viewed(self, user_id: str, now_ms: int) -> bool:
        """Whether some instance still vouches for an open stream of ``user_id``."""
        instances = self._entries.get(user_id)
        return instances is not None and any(until > now_ms for until in instances.values())

    def expire(self, now_ms: int) -> list[str]:
        """Forget the entries past their expiry; the users nobody views any more because of
        it (their instance went away without saying so)."""
        faded: list[str] = []
        for user_id in list(self._entries):
            instances = self._entries[user_id]
            for instance_id in [i for i, until in instances.items() if until <= now_ms]:
                del instances[instance_id]
            if not instances:
                del self._entries[user_id]
                faded.append(user_id)
        return faded

    def __len__(self) -> int:
        return len(self._entries)
