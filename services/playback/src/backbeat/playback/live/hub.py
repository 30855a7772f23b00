"""Fans each live playback event out to the open streams of its user in this process, and
remembers each user's last events so that a stream can resume where the client left off.

Resume limits (what ``Last-Event-ID`` can and cannot bring back):

- The memory holds the last ``events_per_user`` events of the ``users`` users whose events
  arrived most recently, counted from when this instance started tailing the topic. Every
  instance tails every partition, so a client may resume on any instance.
- A resume is *complete* when the memory still holds the event right after the client's
  last one. Otherwise (the gap is older than the memory, or this instance started after
  it) the stream bridges the gap with a now-playing snapshot from the database; events in
  between are then summarised, not replayed.
- An event whose sequence is not after the user's last remembered one (a redelivery) is
  dropped, so a stream shows each event once.
- A deleted user's memory is dropped and their streams are ended; late events of theirs are
  dropped too (the last ``users`` deletions are remembered).
- A stream of a revoked session ends as soon as the revocation reaches this instance, and a
  stream opened for a session already revoked ends at once (its token was checked just
  before, but the revocation may have arrived in between).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from backbeat.authn.revocations import Revocation, RevocationList
from backbeat.playback.live.frames import LiveEvent

log = logging.getLogger(__name__)


class StreamEnded(Exception):
    """The stream has to end: the client was too slow, the user was deleted or the session
    revoked."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_END = object()


class Subscription:
    """One open stream of one user: the events to send, in order."""

    def __init__(
        self, hub: LiveHub, user_id: str, max_pending: int, session_id: str | None = None
    ) -> None:
        self.hub = hub
        self.user_id = user_id
        self.session_id = session_id
        self._pending: asyncio.Queue[LiveEvent | object] = asyncio.Queue(max_pending + 1)
        self._max_pending = max_pending
        self.end_reason: str | None = None

    def deliver(self, event: LiveEvent) -> None:
        if self.end_reason is not None:
            return
        if self._pending.qsize() >= self._max_pending:
            # The client reads slower than its player changes: end the stream rather than
            # hold events without bound; it resumes with Last-Event-ID.
            self.end("client too slow")
            return
        self._pending.put_nowait(event)

    def end(self, reason: str) -> None:
        if self.end_reason is None:
            self.end_reason = reason
            self._pending.put_nowait(_END)

    async def next(self, timeout_s: float) -> LiveEvent | None:
        """The next event, or None when none came within ``timeout_s``; ``StreamEnded`` when
        the stream must end."""
        try:
            item = await asyncio.wait_for(self._pending.get(), timeout_s)
        except TimeoutError:
            return None
        if isinstance(item, LiveEvent):
            return item
        raise StreamEnded(self.end_reason or "ended")

    def close(self) -> None:
        """Stop receiving events (the client went away)."""
        self.hub.unsubscribe(self)


@dataclass(frozen=True, slots=True)
class Replay:
    """What the memory holds after the client's last event."""

    events: list[LiveEvent]
    complete: bool
    """True when no event after ``last_sequence`` is missing from ``events``."""


class LiveHub:
    """Live events of this process's users: fan-out to streams, memory for resumes."""

    def __init__(
        self,
        *,
        events_per_user: int = 64,
        users: int = 10_000,
        pending_per_stream: int = 256,
        revocations: RevocationList | None = None,
        on_viewers: Callable[[str, int], None] | None = None,
    ) -> None:
        """``on_viewers(user_id, open_streams)`` hears each change in how many streams of a
        user are open here (the presence the watcher polls by)."""
        self.events_per_user = events_per_user
        self.max_users = users
        self.pending_per_stream = pending_per_stream
        self._recent: OrderedDict[str, deque[LiveEvent]] = OrderedDict()
        self._streams: dict[str, set[Subscription]] = {}
        self._erased: OrderedDict[str, None] = OrderedDict()
        self._revocations = revocations
        self._on_viewers = on_viewers
        if revocations is not None:
            revocations.listen(self._on_revoked)

    @property
    def open_streams(self) -> int:
        return sum(len(streams) for streams in self._streams.values())

    def publish(self, event: LiveEvent) -> bool:
        """Remember ``event`` and hand it to the user's streams; False when it was dropped."""
        user_id = event.user_id
        if user_id in self._erased:
            return False
        recent = self._recent.get(user_id)
        if recent is None:
            recent = self._recent[user_id] = deque(maxlen=self.events_per_user)
            if len(self._recent) > self.max_users:
                self._recent.popitem(last=False)
        else:
            if recent and recent[-1].sequence >= event.sequence:
                return False
            self._recent.move_to_end(user_id)
        recent.append(event)
        for stream in self._streams.get(user_id, ()):
            stream.deliver(event)
        return True

    def subscribe(
        self, user_id: str, last_sequence: int | None, *, session_id: str | None = None
    ) -> tuple[Subscription, Replay]:
        """Open a stream for ``user_id`` (signed in with ``session_id``). With
        ``last_sequence`` (the client's Last-Event-ID), also what the memory holds after it.
        Nothing awaits in between, so no event can fall between the replay and the live
        events, nor a revocation between the check below and the stream's registration."""
        stream = Subscription(self, user_id, self.pending_per_stream, session_id)
        streams = self._streams.setdefault(user_id, set())
        streams.add(stream)
        self._viewers_changed(user_id, len(streams))
        if session_id is not None and self._session_revoked(user_id, session_id):
            stream.end("session revoked")
        if last_sequence is None:
            return stream, Replay([], complete=True)
        recent = list(self._recent.get(user_id, ()))
        missed = [event for event in recent if event.sequence > last_sequence]
        complete = bool(recent) and recent[0].sequence <= last_sequence + 1
        return stream, Replay(missed, complete=complete)

    def unsubscribe(self, stream: Subscription) -> None:
        streams = self._streams.get(stream.user_id)
        if streams is None:
            return
        if stream not in streams:
            return
        streams.discard(stream)
        if not streams:
            del self._streams[stream.user_id]
        self._viewers_changed(stream.user_id, len(streams))

    def _viewers_changed(self, user_id: str, open_streams: int) -> None:
        if self._on_viewers is not None:
            self._on_viewers(user_id, open_streams)

    def end_sessions(self, user_id: str, session_id: str | None) -> int:
        """End the user's open streams of ``session_id`` (of every session when None); how
        many were ended."""
        ended = 0
        for stream in list(self._streams.get(user_id, ())):
            if session_id is None or stream.session_id == session_id:
                stream.end("session revoked")
                ended += 1
        return ended

    def _on_revoked(self, revocation: Revocation) -> None:
        session_id = None if revocation.session_id is None else str(revocation.session_id)
        ended = self.end_sessions(str(revocation.user_id), session_id)
        if ended:
            log.info("live streams of a revoked session ended", extra={"streams": ended})

    def _session_revoked(self, user_id: str, session_id: str) -> bool:
        if self._revocations is None:
            return False
        try:
            return self._revocations.is_revoked(UUID(user_id), UUID(session_id))
        except ValueError:
            return False

    def erase(self, user_id: str) -> None:
        """The user was deleted: forget their events, end their streams, drop late events."""
        self._recent.pop(user_id, None)
        self._erased[user_id] = None
        if len(self._erased) > self.max_users:
            self._erased.popitem(last=False)
        ended = list(self._streams.pop(user_id, ()))
        for stream in ended:
            stream.end("user deleted")
        if ended:
            self._viewers_changed(user_id, 0)
