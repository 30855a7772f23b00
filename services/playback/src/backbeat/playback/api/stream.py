"""The caller's live stream as Server-Sent Events: resume, replay, live events, heartbeats.

The response is a plain ASGI response, not a generator handed to a framework: it watches
the connection for the client going away while it waits for events, so a closed tab
unsubscribes at once instead of at the next write. Nothing between here and the socket
buffers (the runtime's request middleware is pure ASGI).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from backbeat.playback.api.models import NowPlaying
from backbeat.playback.domain.listening import UserPlayback
from backbeat.playback.live.frames import (
    HEARTBEAT,
    SNAPSHOT_EVENT,
    LiveEvent,
    encode_frame,
    retry_frame,
)
from backbeat.playback.live.hub import LiveHub, StreamEnded, Subscription

# The user's now-playing state from the database (None when nothing plays); the sequence it
# stands at is ``last_sequence``.
StateReader = Callable[[], Awaitable[UserPlayback | None]]

STREAM_HEADERS = {
    "Cache-Control": "no-cache",
    # Proxies that buffer by default (nginx) pass the stream through as it is written.
    "X-Accel-Buffering": "no",
}


class EventStream(Response):
    """``text/event-stream`` of one user's playback events until the client leaves, the
    token expires or the hub ends the stream (also when the session ``session_id`` is
    revoked)."""

    media_type = "text/event-stream"

    def __init__(
        self,
        hub: LiveHub,
        user_id: str,
        *,
        last_sequence: int | None,
        read_state: StateReader,
        heartbeat_s: float,
        retry_ms: int,
        ends_at: datetime,
        session_id: str | None = None,
    ) -> None:
        # No body and so no Content-Length: the stream is chunked, open-ended.
        self.status_code = 200
        self.background = None
        self.init_headers(STREAM_HEADERS)
        self.hub = hub
        self.user_id = user_id
        self.last_sequence = last_sequence
        self.read_state = read_state
        self.heartbeat_s = heartbeat_s
        self.retry_ms = retry_ms
        self.ends_at = ends_at
        self.session_id = session_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream, replay = self.hub.subscribe(
            self.user_id, self.last_sequence, session_id=self.session_id
        )
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            writer = asyncio.create_task(self._write(stream, replay.events, replay.complete, send))
            watcher = asyncio.create_task(_client_gone(receive))
            try:
                await asyncio.wait((writer, watcher), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (writer, watcher):
                    task.cancel()
                for task in (writer, watcher):
                    with contextlib.suppress(asyncio.CancelledError, OSError):
                        await task
            if writer.done() and not writer.cancelled() and writer.exception() is None:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            stream.close()

    async def _write(
        self, stream: Subscription, missed: list[LiveEvent], complete: bool, send: Send
    ) -> None:
        async def write(chunk: bytes) -> None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

        await write(retry_frame(self.retry_ms))
        sent = self.last_sequence or 0
        if self.last_sequence is not None and not complete:
            # The memory does not reach back to the client's last event: the database's state
            # sums up what was missed.
            state = await self.read_state()
            if state is not None and state.last_sequence > sent:
                now = datetime.now(UTC)
                view = NowPlaying.of(state, now).model_dump(mode="json")
                await write(encode_frame(state.last_sequence, SNAPSHOT_EVENT, view))
                sent = state.last_sequence
        for event in missed:
            if event.sequence > sent:
                await write(event.frame)
                sent = event.sequence
        deadline = time.monotonic() + (self.ends_at - datetime.now(UTC)).total_seconds()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return  # the token expired: the client reconnects with a fresh one
            try:
                live = await stream.next(min(self.heartbeat_s, left))
            except StreamEnded:
                return
            if live is None:
                await write(HEARTBEAT)
            elif live.sequence > sent:
                await write(live.frame)
                sent = live.sequence


async def _client_gone(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
