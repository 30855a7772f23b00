"""The whole stack as processes, shared by the end-to-end and browser tests, stopped when
they are done."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.full_stack import WATCH_INTERVAL_S, FullStack, full_stack


@pytest.fixture(scope="package")
def whole_stack(database_urls: dict[str, str], kafka_bootstrap: str) -> Iterator[FullStack]:
    """Every service and the Spotify fake, the watcher polling every ``WATCH_INTERVAL_S``
    whatever the player is doing, so that tests wait seconds, not minutes."""
    intervals = ("ACTIVE", "PAUSED", "IDLE", "LONG_IDLE")
    with full_stack(
        database_urls,
        kafka_bootstrap,
        watcher_settings={f"{name}_INTERVAL_S": str(WATCH_INTERVAL_S) for name in intervals},
    ) as running:
        yield running
