"""The projection against the Spotify fake's ground truth: a seeded simulation of listeners
(skips, pauses, seeks, repeats, ads, device switches, sessions ending), observed into events
(``tests.playback.timeline``), applied through the real consumer, gives the same history as
the plays that really happened, judged by the same play rule, play for play."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backbeat.playback.domain.play_rule import PlayRule
from backbeat.playback.settings import PlaybackSettings
from backbeat.playback.store.queries import HistoryCursor, history
from backbeat.runtime.database import Database
from backbeat.spotify_fake.config import FakeConfig
from backbeat.spotify_fake.fake import FakeSpotify
from tests.playback.integration.harness import all_committed, eventually, publish, running_consumers
from tests.playback.timeline import simulate

pytestmark = pytest.mark.integration

HOURS = 10
USERS = 8

PlayKey = tuple[str, datetime, int]


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


async def projected_plays(database: Database, user_id: str) -> list[PlayKey]:
    plays: list[PlayKey] = []
    cursor: HistoryCursor | None = None
    async with database.session() as session:
        while True:
            page = await history(session, user_id, limit=200, cursor=cursor)
            plays += [(p.track.id, p.started_at, p.listened_ms) for p in page.items]
            if page.next_cursor is None:
                return sorted(plays, key=lambda play: play[1])
            cursor = page.next_cursor


async def test_the_history_matches_the_fakes_ground_truth_play_for_play(
    database: Database, settings: PlaybackSettings, unique: str
) -> None:
    fake = FakeSpotify(FakeConfig(seed=20261126, clock="manual", listeners=USERS))
    user_ids = sorted(fake.users)
    until = fake.now_ms() + HOURS * 3_600_000
    observers = simulate(fake, user_ids, until)
    rule = PlayRule()
    # The fake's users get ids of this test's own, so reruns never meet old rows.
    renamed = {user_id: f"{user_id}-{unique}" for user_id in user_ids}
    events = [
        event.__class__(
            f"{event.event_id}-{unique}",
            event.data.model_copy(update={"user_id": renamed[event.data.user_id]}),
        )
        for observer in observers.values()
        for event in observer.events
    ]

    await publish(settings.kafka_bootstrap, settings.events_topic, events)
    async with running_consumers(settings, database):
        await eventually(lambda: all_committed(settings, len(events)), timeout_s=120)

    total = 0
    for user_id in user_ids:
        truth = [
            (play.item_id, at(play.started_at_ms), play.listened_ms)
            for play in fake.ground_truth(user_id)
            if play.item_type == "track"
            and play.ended_at_ms is not None
            and rule.is_play(play.listened_ms, play.duration_ms)
        ]
        assert await projected_plays(database, renamed[user_id]) == truth, user_id
        total += len(truth)
    # The simulation is rich enough to mean something.
    assert total >= 100
    kinds = {event.data.kind for event in events}
    assert len(kinds) == 7, kinds
