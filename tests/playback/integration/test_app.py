"""The service as it starts: topics made, health and metrics answered, events consumed."""

from __future__ import annotations

import httpx
import pytest

from backbeat.playback.app import create_app
from backbeat.playback.settings import PlaybackSettings
from backbeat.playback.store.queries import history
from backbeat.runtime.database import Database
from tests.playback.integration.harness import all_committed, eventually, publish
from tests.playback.scenarios import Listener, track

pytestmark = pytest.mark.integration


async def test_the_service_reports_ready_and_applies_events_it_consumes(
    database: Database, settings: PlaybackSettings, unique: str
) -> None:
    app = create_app(settings)
    listener = Listener(f"user-{unique}").listen_through(track(1))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://playback") as client:
            assert (await client.get("/health/live")).status_code == 200
            ready = await client.get("/health/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {
                "database": "ok",
                "kafka": "ok",
                "live_tail": "ok",
                "revocations": "ok",
            }

            await publish(settings.kafka_bootstrap, settings.events_topic, listener.events)
            await eventually(lambda: all_committed(settings, len(listener.events)))
            metrics = (await client.get("/metrics")).text

    assert 'playback_events_total{outcome="applied"} 2.0' in metrics
    assert "playback_plays_recorded_total 1.0" in metrics
    async with database.session() as session:
        page = await history(session, listener.user_id)
    assert [p.track.id for p in page.items] == ["track-1"]
