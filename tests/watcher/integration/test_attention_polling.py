"""Attention-driven polling against the Spotify fake on its manual clock, with real Kafka: an
idle user nobody views is polled once a minute and still gets every play into the history
(recently-played fills it, later); a user whose page opens is polled at once, then fast."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from backbeat.events.cloudevents import to_kafka
from backbeat.events.playback import PlaybackEventKind
from backbeat.events.presence import StreamPresence, stream_presence_event
from backbeat.runtime.kafka import create_producer
from backbeat.spotify_fake.domain.script import ScriptStep
from backbeat.watcher.adapters.spotify_reader import PlaybackReader
from backbeat.watcher.domain.snapshot import PlaybackSnapshot, RecentPlay
from backbeat.watcher.testing import (
    SimulatedClock,
    at_ms,
    connected,
    publish_connections,
    read_playback_events,
)
from backbeat.watcher.workers.watcher import Watcher
from tests.watcher.integration.conftest import (
    SimulatedSpotify,
    simulated_spotify,
    watcher_settings,
)
from tests.watcher.integration.reconstruction import reconstruct, sequences_are_gapless

pytestmark = pytest.mark.integration

S = 1_000
MINUTE_MS = 60 * S


class CountingReader:
    """Reads as ``reader`` does, noting the fake-clock time of each call."""

    def __init__(self, reader: PlaybackReader, now_ms: object) -> None:
        self.reader = reader
        self.now_ms = now_ms
        self.player_reads: list[int] = []
        self.recent_reads: list[int] = []

    async def playback(self, access_token: str) -> PlaybackSnapshot:
        self.player_reads.append(self.now_ms())  # type: ignore[operator]
        return await self.reader.playback(access_token)

    async def plays_after(self, access_token: str, after_ms: int) -> list[RecentPlay]:
        self.recent_reads.append(self.now_ms())  # type: ignore[operator]
        return await self.reader.plays_after(access_token, after_ms)

    def requests_between(self, start_ms: int, end_ms: int) -> int:
        return sum(start_ms <= t < end_ms for t in self.player_reads + self.recent_reads)


@pytest.fixture
async def one_listener() -> AsyncIterator[SimulatedSpotify]:
    spotify = await simulated_spotify(listeners=1, seed=7)
    spotify.fake.stop_simulation()
    yield spotify
    await spotify.http.aclose()


async def wait_for(condition: object, timeout_s: float = 30.0) -> None:
    assert callable(condition)
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def run_to(clock: SimulatedClock, until_ms: int, timeout_s: float = 120.0) -> None:
    clock.run_until(until_ms)
    async with asyncio.timeout(timeout_s):
        await clock.reached.wait()


def tracks_of_length(spotify: SimulatedSpotify, count: int, min_ms: int) -> list[str]:
    tracks = [t for t in spotify.fake.catalogue.tracks.values() if t.duration_ms >= min_ms]
    return [t.id for t in tracks[:count]]


async def start_watching(
    spotify: SimulatedSpotify, kafka_bootstrap: str, unique: str, **settings_: object
) -> tuple[Watcher, SimulatedClock, CountingReader, str]:
    settings = watcher_settings(kafka_bootstrap, unique, **settings_)
    (user_id,) = spotify.tokens
    await publish_connections(
        settings.kafka_bootstrap,
        settings.connections_topic,
        [connected(user_id, at_ms(spotify.fake.now_ms()), spotify.spotify_app)],
    )
    readers: list[CountingReader] = []

    def counting(reader: PlaybackReader) -> PlaybackReader:
        readers.append(CountingReader(reader, spotify.fake.now_ms))
        return readers[0]

    watcher, clock = spotify.watcher(settings, wrap_reader=counting)
    await watcher.start()
    await wait_for(lambda: user_id in watcher.scheduler.users)
    return watcher, clock, readers[0], user_id


async def test_an_unviewed_idle_user_polled_once_a_minute_still_gets_every_play(
    one_listener: SimulatedSpotify, kafka_bootstrap: str, unique: str
) -> None:
    spotify = one_listener
    watcher, clock, reader, user_id = await start_watching(
        spotify, kafka_bootstrap, unique, idle_interval_s=60, long_idle_interval_s=60, jitter=0
    )
    try:
        start = spotify.fake.now_ms()
        await run_to(clock, start + 3 * MINUTE_MS + 500)
        polls = sorted(reader.player_reads)
        a, b, c, d = tracks_of_length(spotify, 4, min_ms=200 * S)
        # Three whole plays, each begun and ended between two polls a minute apart (36 to
        # 38 s heard: listed); later, a fourth that a poll sees playing.
        poll = polls[-1] + 60 * S - spotify.fake.now_ms()  # the next poll, from now
        spotify.fake.script(
            user_id,
            [
                ScriptStep(at_ms=poll + 2 * S, action="play", track_ids=(a,)),
                ScriptStep(at_ms=poll + 38 * S, action="stop"),
                ScriptStep(at_ms=poll + 62 * S, action="play", track_ids=(b,)),
                ScriptStep(at_ms=poll + 100 * S, action="stop"),
                ScriptStep(at_ms=poll + 182 * S, action="play", track_ids=(c,)),
                ScriptStep(at_ms=poll + 220 * S, action="stop"),
                ScriptStep(at_ms=poll + 300 * S, action="play", track_ids=(d,)),
            ],
        )
        scripted = spotify.fake.now_ms()
        await run_to(clock, scripted + poll + 299 * S)
        played_by = len(reader.recent_reads)
        await run_to(clock, scripted + poll + 480 * S)
        await watcher.publisher.flush()
    finally:
        await watcher.stop()

    events = await read_playback_events(kafka_bootstrap, watcher.settings.events_topic)
    truth = spotify.ground_truth()
    assert [p["item_id"] for p in truth[user_id]] == [a, b, c, d]
    # No poll saw a, b or c play: each began and ended between two of them.
    assert played_by == 0  # idle polls read the player only: one request a minute
    result = reconstruct(events, truth, spotify.fake.now_ms())
    assert result.missing_listed == []
    assert result.unexpected_starts == []  # each play once: none double-counted
    assert result.matched == 4
    starts = [e for e in events if e.data.kind is PlaybackEventKind.TRACK_STARTED]
    ends = [e for e in events if e.data.kind is PlaybackEventKind.TRACK_ENDED]
    assert [e.data.track.id for e in starts if e.data.track] == [a, b, c, d]
    assert [e.data.track.id for e in ends if e.data.track] == [a, b, c]
    assert [e.data.backfilled for e in starts] == [True, True, True, False]
    assert sequences_are_gapless(events)
    # Once a minute while idle: one request per poll, and one more to settle the idle spell
    # when the player was seen alive again.
    assert reader.requests_between(start, start + 3 * MINUTE_MS + 500) <= 4
    assert len(reader.recent_reads) == 1


async def publish_presence(
    bootstrap: str, topic: str, user_id: str, now_ms: int, open_streams: int = 1
) -> None:
    now = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    producer = create_producer(bootstrap, client_id="test-presence")
    await producer.start()
    try:
        presence = StreamPresence(
            user_id=user_id,
            instance_id="playback-test",
            open_streams=open_streams,
            published_at=now,
            expires_at=now + timedelta(seconds=30),
        )
        key, value, headers = to_kafka(stream_presence_event(presence))
        await producer.send_and_wait(topic, key=key, value=value, headers=headers)
    finally:
        await producer.stop()


async def test_opening_the_page_polls_at_once_and_then_about_every_second(
    one_listener: SimulatedSpotify, kafka_bootstrap: str, unique: str
) -> None:
    spotify = one_listener
    watcher, clock, reader, user_id = await start_watching(spotify, kafka_bootstrap, unique)
    try:
        start = spotify.fake.now_ms()
        await run_to(clock, start + 5 * MINUTE_MS)  # long idle: the next poll is minutes away
        (track,) = tracks_of_length(spotify, 1, min_ms=120 * S)
        spotify.fake.script(user_id, [ScriptStep(at_ms=0, action="play", track_ids=(track,))])
        opened_at = spotify.fake.now_ms()
        reads_before = len(reader.player_reads)
        # The page opens; the simulated clock stands still until the poll it causes is done.
        await publish_presence(kafka_bootstrap, watcher.settings.presence_topic, user_id, opened_at)
        await wait_for(lambda: len(reader.player_reads) > reads_before)
        assert reader.player_reads[reads_before] == opened_at  # polled at once
        await wait_for(lambda: watcher.scheduler.users[user_id].state.sequence >= 1)
        # Then fast while the stream stays open: about every second while playing.
        await run_to(clock, opened_at + 20 * S)
        await watcher.publisher.flush()
    finally:
        await watcher.stop()
    polled = [t for t in reader.player_reads if opened_at <= t <= opened_at + 20 * S]
    assert len(polled) >= 19
    assert max(b - a for a, b in itertools.pairwise(polled)) <= 1_100
    events = await read_playback_events(kafka_bootstrap, watcher.settings.events_topic)
    (started,) = [e for e in events if e.data.kind is PlaybackEventKind.TRACK_STARTED]
    assert started.data.track is not None and started.data.track.id == track
    assert int(started.data.observed_at.timestamp() * 1000) == opened_at
