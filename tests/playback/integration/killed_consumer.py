"""A playback consumer process that is killed (SIGKILL) right after its first batch's
transaction commits, before the batch's offsets can be committed: run with
``python -m tests.playback.integration.killed_consumer`` and the service's environment
variables (``BACKBEAT_PLAYBACK_*``, ``BACKBEAT_KAFKA_BOOTSTRAP``)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Sequence

from backbeat.playback.consumers.metrics import ConsumerMetrics
from backbeat.playback.consumers.runtime import PlaybackConsumers, play_rule
from backbeat.playback.domain.projection import IncomingEvent
from backbeat.playback.settings import PlaybackSettings
from backbeat.playback.store.projection import BatchOutcome, PlaybackProjection
from backbeat.runtime.database import Database


class KilledAfterCommit(PlaybackProjection):
    async def apply(self, events: Sequence[IncomingEvent]) -> BatchOutcome:
        outcome = await super().apply(events)
        # The transaction has committed; the offsets have not. Nothing runs after this.
        os.kill(os.getpid(), signal.SIGKILL)
        return outcome


async def main() -> None:
    settings = PlaybackSettings()
    database = Database(settings.database_url, pool_size=1)
    consumers = PlaybackConsumers(
        settings,
        database,
        ConsumerMetrics(registry=None),
        projection=KilledAfterCommit(database, play_rule(settings)),
    )
    await consumers.start()
    await asyncio.sleep(120)  # killed long before


if __name__ == "__main__":
    asyncio.run(main())
