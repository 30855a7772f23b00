"""Applied event ids past the retention are pruned, and pruning never lets a play count twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from backbeat.playback.domain.play_rule import PlayRule
from backbeat.playback.store.projection import apply_events
from backbeat.playback.store.queries import history
from backbeat.playback.store.retention import ProcessedEventsPruner, prune_processed_events
from backbeat.playback.store.tables import processed_events
from backbeat.runtime.database import Database
from tests.playback.scenarios import Listener, track

pytestmark = pytest.mark.integration

RULE = PlayRule()


async def applied_ids(database: Database) -> set[str]:
    async with database.session() as session:
        return set((await session.execute(select(processed_events.c.event_id))).scalars())


async def age(database: Database, user_id: str, days: int) -> None:
    async with database.session() as session:
        await session.execute(
            update(processed_events)
            .where(processed_events.c.user_id == user_id)
            .values(processed_at=func.now() - timedelta(days=days))
        )


async def test_ids_older_than_the_retention_go_and_newer_ones_stay(database: Database) -> None:
    old = Listener("alice").listen_through(track(1)).listen_through(track(2))
    recent = Listener("bob").listen_through(track(3))
    async with database.session() as session:
        await apply_events(session, old.events + recent.events, RULE)
    await age(database, "alice", days=9)

    # Small batches, so the pruning takes several transactions.
    deleted = await prune_processed_events(database, datetime.now(UTC) - timedelta(days=8), batch=3)

    assert deleted == len(old.events)
    assert await applied_ids(database) == {e.event_id for e in recent.events}


async def test_an_old_event_delivered_again_after_its_id_was_pruned_adds_no_play(
    database: Database,
) -> None:
    listener = Listener("alice").listen_through(track(1))
    async with database.session() as session:
        await apply_events(session, listener.events, RULE)
    await age(database, "alice", days=9)
    await prune_processed_events(database, datetime.now(UTC) - timedelta(days=8))
    assert await applied_ids(database) == set()

    async with database.session() as session:
        again = await apply_events(session, listener.events, RULE)
    async with database.session() as session:
        page = await history(session, "alice")
    assert (again.applied, again.plays) == (0, 0)
    assert [p.track.id for p in page.items] == ["track-1"]


async def test_the_pruner_runs_on_its_interval_until_stopped(database: Database) -> None:
    listener = Listener("alice").listen_through(track(1))
    async with database.session() as session:
        await apply_events(session, listener.events, RULE)
    pruner = ProcessedEventsPruner(
        database, retention=timedelta(days=8), interval=timedelta(seconds=0.1)
    )
    pruner.start()
    try:
        await asyncio.sleep(0.3)
        assert await applied_ids(database) == {e.event_id for e in listener.events}
        await age(database, "alice", days=9)  # only now past the retention
        for _ in range(50):
            if not await applied_ids(database):
                break
            await asyncio.sleep(0.1)
        assert await applied_ids(database) == set()
    finally:
        await pruner.stop()


async def test_two_instances_pruning_at_once_delete_each_id_once(database: Database) -> None:
    listeners = [Listener(f"user-{n}").listen_through(track(n % 5 + 1)) for n in range(40)]
    async with database.session() as session:
        await apply_events(session, [e for listener in listeners for e in listener.events], RULE)
    for listener in listeners:
        await age(database, listener.user_id, days=9)
    total = len(await applied_ids(database))

    cutoff = datetime.now(UTC) - timedelta(days=8)
    counts = await asyncio.gather(
        *(prune_processed_events(database, cutoff, batch=7) for _ in range(2))
    )

    assert sum(counts) == total
    assert await applied_ids(database) == set()
