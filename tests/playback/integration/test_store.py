"""The projection and the queries the API will serve, on the real database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from backbeat.playback.domain.play_rule import PlayRule
from backbeat.playback.store.erasure import erase_user
from backbeat.playback.store.projection import apply_events
from backbeat.playback.store.queries import (
    HistoryCursor,
    InvalidCursor,
    history,
    now_playing,
    stats,
)
from backbeat.runtime.database import Database
from tests.playback.scenarios import PHONE, T0, Listener, track

pytestmark = pytest.mark.integration

RULE = PlayRule()


async def test_applying_the_same_events_again_changes_nothing(database: Database) -> None:
    listener = Listener("alice").listen_through(track(1)).listen_through(track(2))
    async with database.session() as session:
        first = await apply_events(session, listener.events, RULE)
    async with database.session() as session:
        again = await apply_events(session, listener.events, RULE)
    async with database.session() as session:
        page = await history(session, "alice")
    assert (first.applied, first.plays) == (len(listener.events), 2)
    assert (again.applied, again.skipped, again.plays) == (0, len(listener.events), 0)
    assert [p.track.id for p in page.items] == ["track-2", "track-1"]


async def test_a_batch_mixing_users_keeps_each_users_plays_to_themselves(
    database: Database,
) -> None:
    alice = Listener("alice").listen_through(track(1))
    bob = Listener("bob").listen_through(track(2)).listen_through(track(3))
    interleaved = [e for pair in zip(alice.events, bob.events, strict=False) for e in pair]
    interleaved += bob.events[len(alice.events) :]
    async with database.session() as session:
        await apply_events(session, interleaved, RULE)
    async with database.session() as session:
        assert [p.track.id for p in (await history(session, "alice")).items] == ["track-1"]
        assert [p.track.id for p in (await history(session, "bob")).items] == [
            "track-3",
            "track-2",
        ]


async def test_a_play_in_progress_survives_between_batches(database: Database) -> None:
    listener = Listener("alice").start(track(1)).wait(60).pause(60_000).wait(30).resume(60_000)
    listener.wait(50).end()
    for event in listener.events:  # one event per transaction, as the slowest consumer would
        async with database.session() as session:
            await apply_events(session, [event], RULE)
    async with database.session() as session:
        page = await history(session, "alice")
    assert [(p.track.id, p.listened_ms) for p in page.items] == [("track-1", 110_000)]


async def test_now_playing_shows_the_current_track_until_playback_stops(
    database: Database,
) -> None:
    listener = Listener("alice").start(track(4)).wait(20).pause(20_000)
    async with database.session() as session:
        await apply_events(session, listener.events, RULE)
    async with database.session() as session:
        state = await now_playing(session, "alice")
        assert await now_playing(session, "nobody") is None
    assert state is not None and state.track is not None
    assert (state.track.id, state.is_playing, state.progress_ms) == ("track-4", False, 20_000)
    listener.stop()
    async with database.session() as session:
        await apply_events(session, listener.events[-1:], RULE)
    async with database.session() as session:
        assert await now_playing(session, "alice") is None


async def test_history_pages_newest_first_with_a_cursor_and_a_time_window(
    database: Database,
) -> None:
    listener = Listener("alice")
    for n in range(7):
        listener.listen_through(track(n)).wait(10)
    async with database.session() as session:
        await apply_events(session, listener.events, RULE)

    seen: list[str] = []
    cursor = None
    async with database.session() as session:
        while True:
            page = await history(session, "alice", limit=3, cursor=cursor)
            seen += [p.track.id for p in page.items]
            if page.next_cursor is None:
                break
            cursor = HistoryCursor.decode(page.next_cursor.encode())
    assert seen == [f"track-{n}" for n in reversed(range(7))]

    # Each play is 210 s apart: plays 2, 3 and 4 started in [T0 + 420 s, T0 + 1050 s).
    async with database.session() as session:
        window = await history(
            session, "alice", from_=T0 + timedelta(seconds=420), to=T0 + timedelta(seconds=1050)
        )
    assert [p.track.id for p in window.items] == ["track-4", "track-3", "track-2"]
    with pytest.raises(InvalidCursor):
        HistoryCursor.decode("not-a-cursor")


async def test_stats_rank_tracks_and_artists_and_add_up_listening_time(
    database: Database,
) -> None:
    listener = Listener("alice")
    for song in (track(1, artist=9), track(2, artist=9), track(1, artist=9), track(3)):
        listener.listen_through(song)
    listener.start(track(5)).wait(10).stop()  # a skip: no play, no listening time
    async with database.session() as session:
        await apply_events(session, listener.events, RULE)
    async with database.session() as session:
        result = await stats(session, "alice")
        empty = await stats(session, "alice", to=T0)
    assert result.plays == 4 and result.listened_ms == 4 * 200_000
    assert [(t.track.id, t.plays) for t in result.top_tracks] == [
        ("track-1", 2),
        ("track-2", 1),
        ("track-3", 1),
    ]
    assert [(a.artist_id, a.name, a.plays) for a in result.top_artists] == [
        ("artist-9", "Artist 9", 3),
        ("artist-3", "Artist 3", 1),
    ]
    assert (empty.plays, empty.listened_ms, empty.top_tracks) == (0, 0, [])


async def test_erasing_a_user_removes_their_data_and_drops_their_late_events(
    database: Database,
) -> None:
    alice = Listener("alice").listen_through(track(1)).start(track(2))
    bob = Listener("bob").listen_through(track(3))
    async with database.session() as session:
        await apply_events(session, alice.events + bob.events, RULE)
    async with database.session() as session:
        erased = await erase_user(session, "alice")
    alice.wait(200).end()
    async with database.session() as session:
        late = await apply_events(session, alice.events, RULE)
    async with database.session() as session:
        assert erased.plays_deleted == 1
        assert late.dropped_for_erased_users == len(alice.events) and late.plays == 0
        assert (await history(session, "alice")).items == []
        assert await now_playing(session, "alice") is None
        assert (await stats(session, "alice")).plays == 0
        assert [p.track.id for p in (await history(session, "bob")).items] == ["track-3"]


async def test_states_and_plays_keep_every_value_as_written(database: Database) -> None:
    # Rows travel to the database as one JSON document: instants in another offset, with
    # microseconds, text that JSON must escape, and missing optional values come back as
    # they were.
    paris = timezone(timedelta(hours=2))
    odd = track(7).model_copy(update={"name": 'Say "hi" \\ é ✓', "album_id": None})
    listener = Listener("alice", start=datetime(2026, 3, 1, 14, 0, 0, 123456, tzinfo=paris))
    listener.start(odd).wait(60).pause(60_000).wait(30).resume(60_000).wait(140).end()
    listener.start(track(8)).wait(12.5).pause(12_500)
    async with database.session() as session:
        await apply_events(session, listener.events, RULE)
    async with database.session() as session:
        state = await now_playing(session, "alice")
        page = await history(session, "alice")

    assert state is not None and state.track == track(8) and state.device == PHONE
    assert state.observed_at == listener.now and state.progress_ms == 12_500
    assert state.play is not None and state.play.listened_ms == 12_500
    assert state.play.segment_started_at is None
    [play] = page.items
    assert play.track == odd and play.listened_ms == 200_000
    assert play.started_at == listener.events[0].data.observed_at
