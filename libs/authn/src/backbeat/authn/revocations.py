"""The sessions whose access tokens are refused before they expire: pure, in-memory.

A revocation is kept until every token it can cover has expired: such a token was issued
before the revocation and lives at most the verifier's longest accepted lifetime (longer
tokens are refused outright), so ``revoked_at + max lifetime + leeway`` bounds it. Past that
the entry is forgotten and memory stays proportional to the revocations of that window.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Revocation:
    """The tokens of ``session_id`` (of every session of ``user_id`` when None) end."""

    user_id: UUID
    session_id: UUID | None
    revoked_at: float
    """Seconds since the epoch."""


RevocationListener = Callable[[Revocation], None]


class RevocationList:
    """What has been revoked within the last ``retain_s`` seconds.

    ``current`` says whether the list has caught up with every revocation published before
    this process started; until then a verifier cannot tell a revoked session from a live
    one and refuses to decide.
    """

    def __init__(self, *, retain_s: float, clock: Callable[[], float] = time.time) -> None:
        if retain_s <= 0:
            raise ValueError("retain_s must be positive")
        self.retain_s = retain_s
        self._clock = clock
        # Keyed by the UUIDs' integers: a UUID's own hash is computed in Python, several
        # times slower than an int's, and this lookup runs on every verification.
        self._sessions: dict[int, float] = {}
        self._users: dict[int, float] = {}
        # (forget at, is a user entry, id): the earliest entry to forget on top.
        self._expiry: list[tuple[float, bool, int]] = []
        self._listeners: list[RevocationListener] = []
        self.current = False

    def __len__(self) -> int:
        self._forget_expired(self._clock())
        return len(self._sessions) + len(self._users)

    def mark_current(self) -> None:
        self.current = True

    def listen(self, listener: RevocationListener) -> None:
        """Call ``listener`` with every revocation added from now on (open live streams of a
        revoked session end through this)."""
        self._listeners.append(listener)

    def add(self, revocation: Revocation) -> bool:
        """Remember ``revocation``; False when it is too old to cover any valid token."""
        now = self._clock()
        forget_at = revocation.revoked_at + self.retain_s
        if forget_at <= now:
            return False
        self._forget_expired(now)
        is_user = revocation.session_id is None
        entries = self._users if is_user else self._sessions
        key = (revocation.user_id if revocation.session_id is None else revocation.session_id).int
        if entries.get(key, 0.0) < forget_at:
            entries[key] = forget_at
            heapq.heappush(self._expiry, (forget_at, is_user, key))
        for listener in self._listeners:
            try:
                listener(revocation)
            except Exception:
                # One failing listener must not keep the revocation from the others.
                log.exception("a revocation listener failed")
        return True

    def is_revoked(self, user_id: UUID, session_id: UUID) -> bool:
        """Whether tokens of this session of this user are revoked."""
        if self._expiry and self._expiry[0][0] <= self._clock():
            self._forget_expired(self._clock())
        return session_id.int in self._sessions or user_id.int in self._users

    def _forget_expired(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            forget_at, is_user, key = heapq.heappop(self._expiry)
            entries = self._users if is_user else self._sessions
            # A later revocation of the same key pushed a later time: keep the entry for it.
            if entries.get(key) == forget_at:
                del entries[key]
