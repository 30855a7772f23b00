"""The watcher against the Spotify fake's seeded simulated listeners, on the fake's manual
clock driven by the watcher's own schedule, with real Kafka: the published events rebuild
what the listeners really played."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from backbeat.events.playback import PlaybackEventKind
from backbeat.watcher.adapters.spotify_reader import PlaybackReader
from backbeat.watcher.domain.snapshot import PlaybackSnapshot, RecentPlay
from backbeat.watcher.settings import WatcherSettings
from backbeat.watcher.testing import (
    SimulatedClock,
    at_ms,
    connected,
    publish_connections,
    read_playback_events,
)
from backbeat.watcher.workers.watcher import Watcher
from tests.watcher.integration.conftest import SimulatedSpotify, watcher_settings
from tests.watcher.integration.reconstruction import reconstruct, sequences_are_gapless

pytestmark = pytest.mark.integration

MINUTE_MS = 60_000


async def wait_for(condition: object, timeout_s: float = 60.0) -> None:
    assert callable(condition)
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def connect_everyone(spotify: SimulatedSpotify, settings: WatcherSettings) -> int:
    """Publishes every simulated listener as connected now; the fake's time then (ms)."""
    start = spotify.fake.now_ms()
    await publish_connections(
        settings.kafka_bootstrap,
        settings.connections_topic,
        [connected(u, at_ms(start), spotify.spotify_app) for u in spotify.tokens],
    )
    return start


async def run_until_reached(watcher: Watcher, clock: SimulatedClock, timeout_s: float) -> None:
    """Waits for the simulated clock to reach its end; if it stalls, fails saying where the
    scheduler stood (users, timers, polls in flight and what each awaits)."""
    try:
        async with asyncio.timeout(timeout_s):
            await clock.reached.wait()
    except TimeoutError:
        scheduler = watcher.scheduler
        polls = scheduler._polling
        awaiting = [f"{user}: {task.get_stack(limit=12)}" for user, task in list(polls.items())[:3]]
        report = (
            f"clock at {clock.wall_ms()} ms, running until {clock.until_ms}, "
            f"gate {'open' if clock.gate.is_set() else 'closed'}; "
            f"{len(scheduler.users)} users, next timer {scheduler._timers.next_due()}, "
            f"{len(polls)} polls in flight {awaiting}; tasks running: {watcher.running()}"
        )
        raise AssertionError(f"the simulated clock stalled: {report}") from None


async def test_events_of_50_simulated_listeners_rebuild_every_play_once(
    spotify50: SimulatedSpotify, kafka_bootstrap: str, unique: str
) -> None:
    settings = watcher_settings(kafka_bootstrap, unique)
    start = await connect_everyone(spotify50, settings)
    watcher, clock = spotify50.watcher(settings)
    await watcher.start()
    try:
        await wait_for(lambda: len(watcher.scheduler.users) == 50)
        clock.run_until(start + 40 * MINUTE_MS)
        await run_until_reached(watcher, clock, 240)
        await watcher.publisher.flush()
    finally:
        await watcher.stop()

    events = await read_playback_events(kafka_bootstrap, settings.events_topic)
    result = reconstruct(events, spotify50.ground_truth(), spotify50.fake.now_ms())
    kinds = Counter(e.data.kind for e in events)

    assert result.unexpected_starts == []  # no duplicated or false track start
    assert result.missing_listed == []  # every play Spotify would list was seen
    # Plays under 30 s that start and end between two polls of an idle player are invisible
    # to polling and unlisted by Spotify; every other one was seen.
    assert len(result.missing_short) <= result.plays // 50, result.missing_short
    assert result.plays >= 200
    assert result.matched == result.plays - len(result.missing_short) - result.not_yet_polled
    assert sequences_are_gapless(events)
    # The run went through every kind of change the listeners make.
    for kind in (
        PlaybackEventKind.PAUSED,
        PlaybackEventKind.RESUMED,
        PlaybackEventKind.SEEKED,
        PlaybackEventKind.DEVICE_CHANGED,
        PlaybackEventKind.STOPPED,
    ):
        assert kinds[kind] > 0, kind
    assert result.repeats_in_truth > 0


async def run_watcher_for(
    spotify: SimulatedSpotify, settings: object, minutes: int, users: int, seed: int
) -> None:
    watcher, clock = spotify.watcher(settings, seed=seed)  # type: ignore[arg-type]
    await watcher.start()
    try:
        await wait_for(lambda: len(watcher.scheduler.users) == users)
        clock.run_until(spotify.fake.now_ms() + minutes * MINUTE_MS)
        await run_until_reached(watcher, clock, 120)
        await watcher.publisher.flush()
    finally:
        await watcher.stop()


async def test_a_watcher_stopped_for_20_minutes_publishes_the_plays_of_the_gap_once(
    spotify20: SimulatedSpotify, kafka_bootstrap: str, unique: str
) -> None:
    settings = watcher_settings(kafka_bootstrap, unique)
    await connect_everyone(spotify20, settings)
    await run_watcher_for(spotify20, settings, minutes=8, users=20, seed=1)
    gap_start = spotify20.fake.now_ms()
    spotify20.fake.advance_clock(20 * MINUTE_MS)
    gap_end = spotify20.fake.now_ms()
    await run_watcher_for(spotify20, settings, minutes=4, users=20, seed=2)

    events = await read_playback_events(kafka_bootstrap, settings.events_topic)
    truth = spotify20.ground_truth()
    result = reconstruct(events, truth, spotify20.fake.now_ms())
    assert result.unexpected_starts == []
    assert result.missing_listed == []
    assert sequences_are_gapless(events)

    listed_in_gap = [
        (user_id, play["item_id"], play["ended_at_ms"])
        for user_id, plays in truth.items()
        for play in plays
        if play["ended_at_ms"] is not None
        and gap_start < play["started_at_ms"]
        and play["ended_at_ms"] <= gap_end
        and play["listened_ms"] > 30_000
    ]
    recovered = [
        (e.subject, e.data.track.id if e.data.track else None, e.data.observed_at)
        for e in events
        if e.data.backfilled
        and e.data.kind is PlaybackEventKind.TRACK_ENDED
        and e.data.observed_at.timestamp() * 1000 > gap_start
    ]
    assert len(listed_in_gap) >= 10
    # Each play of the gap once (plus the ends of the plays that were open when it began).
    recovered_plays = Counter(
        (user, item, int(at.timestamp() * 1000)) for user, item, at in recovered
    )
    assert all(count == 1 for count in recovered_plays.values())
    assert set(listed_in_gap) <= set(recovered_plays)
    assert result.matched_backfilled == len(listed_in_gap)


class FailsOnceFor:
    """Reads players as ``reader`` does, except that the first read with ``token`` fails with
    an error no handler expects (a fault of the watcher's own)."""

    def __init__(self, reader: PlaybackReader, token: str) -> None:
        self.reader = reader
        self.token = token
        self.reads_after_failure = 0
        self.failed = False

    async def playback(self, access_token: str) -> PlaybackSnapshot:
        if access_token == self.token:
            if not self.failed:
                self.failed = True
                raise RuntimeError("a fault in reading the answer")
            self.reads_after_failure += 1
        return await self.reader.playback(access_token)

    async def plays_after(self, access_token: str, after_ms: int) -> list[RecentPlay]:
        return await self.reader.plays_after(access_token, after_ms)


async def test_a_poll_that_fails_unexpectedly_does_not_drop_the_user(
    spotify20: SimulatedSpotify, kafka_bootstrap: str, unique: str
) -> None:
    settings = watcher_settings(kafka_bootstrap, unique)
    start = await connect_everyone(spotify20, settings)
    unlucky = sorted(spotify20.tokens)[0]
    readers: list[FailsOnceFor] = []

    def fail_once(reader: PlaybackReader) -> PlaybackReader:
        readers.append(FailsOnceFor(reader, spotify20.tokens[unlucky]))
        return readers[0]

    watcher, clock = spotify20.watcher(settings, wrap_reader=fail_once)
    await watcher.start()
    try:
        await wait_for(lambda: len(watcher.scheduler.users) == 20)
        clock.run_until(start + 5 * MINUTE_MS)
        await run_until_reached(watcher, clock, 120)
    finally:
        await watcher.stop()
    assert readers[0].failed
    # Polled again after the failure, at least once a minute (the longest idle interval).
    assert readers[0].reads_after_failure >= 4
