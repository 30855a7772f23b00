"""The access tokens an instance read recently, with the rules that make handing them out
again safe: per user, for a bounded window, never near expiry, never after a forget.

Pure: the dispenser reads the database and decides; this only remembers.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

Token = TypeVar("Token")


@dataclass(frozen=True, slots=True)
class ReadTicket:
    """Taken before a read of the database; what the read brings back is kept only if no
    user was forgotten meanwhile."""

    epoch: int
    started_at: float


@dataclass(slots=True)
class _Entry(Generic[Token]):
    token: Token
    expires_at: datetime
    serve_until: float
    read_again_after: float
    read_again_asked: bool = False


class WarmTokens(Generic[Token]):
    """Per user id, the token last read for that user.

    A token is served again for at most ``window_s`` after the read that found it began,
    which bounds how long another instance's disconnect or refresh goes unseen here; each
    entry's window is drawn between half and all of it, so tokens read together (a restart,
    a burst) do not all expire, and go back to the database, at the same moment. Never once
    the token is within ``margin`` of its expiry. :meth:`forget` ends a user's entry, and
    what any read already under way brings back is not kept: a read that began before a
    disconnect cannot put the old token back.

    Past half its window an entry asks, once, to be read again (:meth:`read_again`), so that
    a user asked for steadily is re-read in the background while the entry still serves,
    and no caller waits on the database for it.
    """

    def __init__(
        self,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.window_s = window_s
        self._clock = clock
        self._uniform = uniform
        self._entries: dict[str, _Entry[Token]] = {}
        self._epoch = 0

    def __len__(self) -> int:
        return len(self._entries)

    def begin_read(self) -> ReadTicket:
        return ReadTicket(self._epoch, self._clock())

    def get(self, user_id: str, now: datetime, margin: timedelta) -> Token | None:
        """The user's token if it may be handed out again now, else None."""
        entry = self._entries.get(user_id)
        if entry is None:
            return None
        if self._clock() >= entry.serve_until or entry.expires_at - margin <= now:
            del self._entries[user_id]
            return None
        return entry.token

    def put(self, user_id: str, token: Token, expires_at: datetime, ticket: ReadTicket) -> None:
        """Remember what the read that began with ``ticket`` found for ``user_id``."""
        if self.window_s <= 0 or ticket.epoch != self._epoch:
            return
        window = self._uniform(self.window_s / 2, self.window_s)
        self._entries[user_id] = _Entry(
            token, expires_at, ticket.started_at + window, ticket.started_at + window / 2
        )

    def read_again(self, user_id: str) -> bool:
        """True once per entry, when it is past half its window: time to start a new read."""
        entry = self._entries.get(user_id)
        if entry is None or entry.read_again_asked or self._clock() < entry.read_again_after:
            return False
        entry.read_again_asked = True
        return True

    def forget(self, user_id: str) -> None:
        """The user's token is not to be served from memory again (disconnect, reconnect,
        erasure, revocation), nor from any read under way now."""
        self._entries.pop(user_id, None)
        # One counter for every user: forgets are rare, and a read that loses its right to
        # be remembered only costs one more read later.
        self._epoch += 1
