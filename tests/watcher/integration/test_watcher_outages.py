"""Outages every user meets are handled once: while the fake answers 5xx to every Web API
call for 30 s, or the tokens service is unreachable for 15 s, one probe poll a second tests
it instead of every user retrying alone, and when it ends every user who waited is polled
again within one active interval; users holding a valid access token never wait for tokens.
On the fake's simulated clock."""

from __future__ import annotations

from collections import defaultdict

import pytest

from backbeat.authn.spotify_access import TokensTryLater
from backbeat.spotify import TransientSpotifyError
from backbeat.watcher.adapters.spotify_reader import PlaybackReader
from backbeat.watcher.domain.snapshot import PlaybackSnapshot, RecentPlay
from tests.watcher.integration.conftest import SimulatedSpotify, watcher_settings
from tests.watcher.integration.test_watcher_simulated_listeners import (
    MINUTE_MS,
    connect_everyone,
    run_until_reached,
    wait_for,
)

pytestmark = pytest.mark.integration

OUTAGE_MS = 30_000
ACTIVE_S = 5.0
PROBE_S = 1.0


class RecordingReader:
    """Reads as ``reader`` does, noting when (fake-clock ms) each user's player read
    succeeded or failed."""

    def __init__(self, reader: PlaybackReader, now_ms: object) -> None:
        self.reader = reader
        self.now_ms = now_ms
        self.ok: dict[str, list[int]] = defaultdict(list)
        self.failed: dict[str, list[int]] = defaultdict(list)

    async def playback(self, access_token: str) -> PlaybackSnapshot:
        assert callable(self.now_ms)
        try:
            snapshot = await self.reader.playback(access_token)
        except TransientSpotifyError:
            self.failed[access_token].append(self.now_ms())
            raise
        self.ok[access_token].append(self.now_ms())
        return snapshot

    async def plays_after(self, access_token: str, after_ms: int) -> list[RecentPlay]:
        return await self.reader.plays_after(access_token, after_ms)


async def test_after_a_spotify_outage_every_waiting_user_is_polled_within_one_interval(
    spotify20: SimulatedSpotify, kafka_bootstrap: str, unique: str
) -> None:
    settings = watcher_settings(
        kafka_bootstrap,
        unique,
        active_interval_s=ACTIVE_S,
        outage_probe_interval_s=PROBE_S,
        outage_failures=3,
    )
    start = await connect_everyone(spotify20, settings)
    readers: list[RecordingReader] = []

    def record(reader: PlaybackReader) -> PlaybackReader:
        readers.append(RecordingReader(reader, spotify20.fake.now_ms))
        return readers[0]

    watcher, clock = spotify20.watcher(settings, wrap_reader=record)
    await watcher.start()
    try:
        await wait_for(lambda: len(watcher.scheduler.users) == 20)
        clock.run_until(start + 3 * MINUTE_MS)
        await run_until_reached(watcher, clock, 120)
        outage_start = spotify20.fake.now_ms()
        fault = await spotify20.http.post(
            "/_control/faults",
            json={"endpoint": "web_api", "kind": "server_error", "duration_ms": OUTAGE_MS},
        )
        fault.raise_for_status()
        outage_end = outage_start + OUTAGE_MS
        clock.run_until(outage_end + 2 * MINUTE_MS)
        await run_until_reached(watcher, clock, 120)
    finally:
        await watcher.stop()

    reader = readers[0]
    met_it = [token for token, times in reader.failed.items() if times]
    failed_calls = sum(len(times) for times in reader.failed.values())
    assert len(met_it) >= 5  # the outage was felt by many users
    # One probe a second (and the polls already out when it began), not every user retrying.
    assert failed_calls <= OUTAGE_MS / 1000 / PROBE_S + len(met_it) + 3
    recovered_after_ms = []
    for token in met_it:
        first_ok = min(t for t in reader.ok[token] if t >= outage_end)
        recovered_after_ms.append(first_ok - outage_end)
    # Every user who waited is polled again within one active interval of the end (the
    # probe that finds Spotify back comes within a probe interval).
    assert max(recovered_after_ms) <= (ACTIVE_S + PROBE_S) * 1000, sorted(recovered_after_ms)
    print(
        f"outage of {OUTAGE_MS / 1000:.0f} s: {len(met_it)} users held, {failed_calls} failed "
        f"calls, every one polled again {max(recovered_after_ms) / 1000:.1f} s after the end"
    )


class TokensWithOutage:
    """Tokens behind the watcher's cache: the users in ``cached`` hold a valid access token;
    the others' had expired, so each of their polls asks tokens, which is unreachable
    between ``down`` (fake-clock ms)."""

    def __init__(
        self, tokens: dict[str, str], cached: set[str], now_ms: object, down: tuple[int, int]
    ) -> None:
        self.tokens = tokens
        self.cached = cached
        self.now_ms = now_ms
        self.down = down
        self.asked_while_down = 0
        self.refused: set[str] = set()

    async def access_token(self, user_id: str) -> str:
        assert callable(self.now_ms)
        if user_id not in self.cached and self.down[0] <= self.now_ms() < self.down[1]:
            self.asked_while_down += 1
            self.refused.add(user_id)
            raise TokensTryLater("tokens unreachable")
        return self.tokens[user_id]

    def invalidate(self, user_id: str) -> None:
        return


async def test_tokens_down_costs_nothing_to_users_with_a_valid_token_and_the_rest_recover_fast(
    spotify20: SimulatedSpotify, kafka_bootstrap: str, unique: str
) -> None:
    settings = watcher_settings(
        kafka_bootstrap, unique, active_interval_s=ACTIVE_S, outage_probe_interval_s=PROBE_S
    )
    start = await connect_everyone(spotify20, settings)
    users = sorted(spotify20.tokens)
    cached = set(users[:10])
    down = (start + 3 * MINUTE_MS, start + 3 * MINUTE_MS + 15_000)
    source = TokensWithOutage(spotify20.tokens, cached, spotify20.fake.now_ms, down)
    readers: list[RecordingReader] = []

    def record(reader: PlaybackReader) -> PlaybackReader:
        readers.append(RecordingReader(reader, spotify20.fake.now_ms))
        return readers[0]

    watcher, clock = spotify20.watcher(settings, wrap_reader=record, tokens=source)
    await watcher.start()
    try:
        await wait_for(lambda: len(watcher.scheduler.users) == 20)
        clock.run_until(down[1] + 2 * MINUTE_MS)
        await run_until_reached(watcher, clock, 120)
    finally:
        await watcher.stop()

    reader = readers[0]
    by_user = {u: reader.ok[spotify20.tokens[u]] for u in users}

    # Users with a valid token who were playing (polled every active interval) just before
    # tokens went down were polled on through the outage as before.
    busy_cached = [
        u for u in cached if sum(down[0] - 10_000 <= t < down[0] for t in by_user[u]) >= 2
    ]
    for user in busy_cached:
        during = [t for t in by_user[user] if down[0] <= t < down[1]]
        assert len(during) >= 15_000 / 1000 / ACTIVE_S - 1, user
    # The others who were due while it was down needed tokens: they are all polled within
    # one active interval of its return.
    waited = sorted(source.refused)
    assert waited
    late = [min(t for t in by_user[u] if t >= down[1]) - down[1] for u in waited]
    assert max(late) <= (ACTIVE_S + PROBE_S) * 1000, sorted(late)
    # One probe a second while it was down, not every user retrying.
    assert source.asked_while_down <= 15 / PROBE_S + len(waited) + 3
    print(
        f"tokens down 15 s: {len(busy_cached)} playing users with a valid token polled "
        f"throughout; {len(waited)} others polled again {max(late) / 1000:.1f} s after it "
        f"returned; {source.asked_while_down} hand-outs asked while it was down"
    )
