"""Stand-ins for the watcher's neighbours and helpers around it, for tests and benchmarks:
a simulated clock that drives the Spotify fake's manual clock, access-token sources that
need no tokens service, Spotify users connected through the fake's own OAuth flow,
connection records on a topic, and the playback events read back.

Not for production paths: the stand-ins hand out whatever tokens they are given.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from backbeat.authn.spotify_access import NotConnected
from backbeat.events.cloudevents import from_kafka, to_kafka
from backbeat.events.connections import ConnectionState, ConnectionStatus, connection_event
from backbeat.events.playback import PlaybackEvent, PlaybackEventData
from backbeat.runtime.kafka import TopicSpec, create_producer, ensure_topics
from backbeat.watcher.consumers.ownership import partition_count

PLAYBACK_SCOPES = "user-read-playback-state user-read-currently-playing user-read-recently-played"
REDIRECT_URI = "http://127.0.0.1:8000/api/spotify/callback"


class ManualTime(Protocol):
    def now_ms(self) -> int: ...

    def advance(self, ms: int) -> None: ...


def whole_ms_reaching(deadline_s: float) -> int:
    """The first whole millisecond whose time in seconds (``ms / 1000``, as ``now`` reads it)
    is not before ``deadline_s``. ``ceil(deadline_s * 1000)`` alone can fall short: for a
    deadline a hair above a millisecond, the product rounds down onto that millisecond, the
    clock would not move and the timer would never come due."""
    target = math.ceil(deadline_s * 1000)
    while target / 1000 < deadline_s:
        target += 1
    return target


class SimulatedClock:
    """The scheduler's clock on the fake's manual clock: time moves only when no poll is in
    flight, straight to the next due time, and only while the gate is open and before
    ``until_ms``. Polls therefore see the fake exactly at their due instants, however slow
    the machine is."""

    def __init__(self, time: ManualTime) -> None:
        self._time = time
        self.gate = asyncio.Event()
        self.until_ms: int | None = None
        self.reached = asyncio.Event()
        self._nudge = asyncio.Event()

    def now(self) -> float:
        return self._time.now_ms() / 1000

    def wall_ms(self) -> int:
        return self._time.now_ms()

    def run_until(self, until_ms: int) -> None:
        self.until_ms = until_ms
        self.reached.clear()
        self.gate.set()
        self._nudge.set()

    async def wait(self, deadline: float | None, wake: asyncio.Event, idle: bool) -> None:
        if idle and deadline is not None and self.gate.is_set():
            target = whole_ms_reaching(deadline)
            if self.until_ms is None or target <= self.until_ms:
                now = self._time.now_ms()
                if target > now:
                    self._time.advance(target - now)
                await asyncio.sleep(0)
                return
            self.reached.set()
        self._nudge.clear()
        waits = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(self._nudge.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()


class StaticAccessTokens:
    """An access-token source holding each user's token (from the fake's OAuth flow)."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self.tokens = dict(tokens)

    async def access_token(self, user_id: str) -> str:
        token = self.tokens.get(user_id)
        if token is None:
            raise NotConnected(user_id)
        return token

    def invalidate(self, user_id: str) -> None:
        return


async def register_spotify_app(http: httpx.AsyncClient) -> tuple[str, str]:
    """A new app at the fake: (client id, client secret)."""
    response = await http.post("/_control/clients", json={"redirect_uris": [REDIRECT_URI]})
    response.raise_for_status()
    body = response.json()
    return str(body["client_id"]), str(body["client_secret"])


async def connect_spotify_users(
    http: httpx.AsyncClient, client_id: str, client_secret: str, user_ids: Iterable[str]
) -> dict[str, str]:
    """Each fake user consents to the app; returns their access tokens."""
    tokens: dict[str, str] = {}
    for user_id in user_ids:
        query = urlencode(
            {
                "client_id": client_id,
                "response_type": "code",
                "redirect_uri": REDIRECT_URI,
                "scope": PLAYBACK_SCOPES,
                "fake_user": user_id,
            }
        )
        consent = await http.get(f"/authorize?{query}")
        code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
        grant = await http.post(
            "/api/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
            auth=(client_id, client_secret),
        )
        grant.raise_for_status()
        tokens[user_id] = str(grant.json()["access_token"])
    return tokens


def connected(user_id: str, since: datetime, spotify_app: str | None = None) -> ConnectionState:
    return ConnectionState(
        user_id=user_id,
        status=ConnectionStatus.CONNECTED,
        scopes=PLAYBACK_SCOPES.split(),
        spotify_client_id=spotify_app,
        since=since,
    )


def at_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


async def publish_connections(
    bootstrap: str, topic: str, states: Iterable[ConnectionState], partitions: int = 12
) -> None:
    """Connection records as the tokens service publishes them (key = user id)."""
    await ensure_topics(bootstrap, [TopicSpec(topic, partitions=partitions, compacted=True)])
    producer = create_producer(bootstrap, client_id="backbeat-watcher-testing")
    await producer.start()
    try:
        for state in states:
            key, value, headers = to_kafka(connection_event(state))
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def read_playback_events(bootstrap: str, topic: str) -> list[PlaybackEvent]:
    """Every committed playback event on ``topic`` so far, per partition in order."""
    partitions = await partition_count(bootstrap, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        group_id=None,
    )
    await consumer.start()
    events: list[PlaybackEvent] = []
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        pending = {tp for tp in assigned if ends[tp] > 0}
        async with asyncio.timeout(60):
            while pending:
                batches = await consumer.getmany(*pending, timeout_ms=500)
                for records in batches.values():
                    events += [
                        from_kafka(r.key, r.value, r.headers, PlaybackEventData) for r in records
                    ]
                for tp in list(pending):
                    if await consumer.position(tp) >= ends[tp]:
                        pending.discard(tp)
    finally:
        await consumer.stop()
    return events


class StandInAuthAndTokens:
    """A tiny HTTP server standing in for auth's token endpoint and the tokens service's
    hand-out, for watcher processes in tests and benchmarks. ``tokens`` maps user ids to
    access tokens; users in ``needs_reauth`` get 409, unknown users 404."""

    _HANDOUT = re.compile(r"^/internal/v1/users/([^/]+)/spotify/access-token$")

    # The default service token is a placeholder for a tokens stand-in that checks none.
    def __init__(
        self,
        tokens: Mapping[str, str],
        service_token: str = "stand-in",  # noqa: S107 - not a credential
    ) -> None:
        self.tokens = dict(tokens)
        self.needs_reauth: set[str] = set()
        self.handouts = 0
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: dict[str, Any]) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                self._send(
                    200,
                    {"access_token": service_token, "token_type": "Bearer", "expires_in": 600},
                )

            def do_GET(self) -> None:
                match = stand_in._HANDOUT.match(self.path)
                if match is None:
                    self._send(404, {"code": "not_found"})
                    return
                user_id = match.group(1)
                stand_in.handouts += 1
                if user_id in stand_in.needs_reauth:
                    self._send(409, {"code": "needs_reauth"})
                elif user_id not in stand_in.tokens:
                    self._send(404, {"code": "not_connected"})
                else:
                    expires = datetime.now(UTC).replace(year=datetime.now(UTC).year + 1)
                    self._send(
                        200,
                        {
                            "access_token": stand_in.tokens[user_id],
                            "expires_at": expires.isoformat(),
                        },
                    )

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StandInAuthAndTokens:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.server.shutdown()
            self.server.server_close()
