"""Gateway test fixtures: the services behind it, started once for the gateway's tests and
stopped when they are done."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateway.stack import Stack, start_stack


@pytest.fixture(scope="package")
def stack(database_urls: dict[str, str], kafka_bootstrap: str) -> Iterator[Stack]:
    running = start_stack(database_urls, kafka_bootstrap)
    try:
        yield running
    finally:
        running.stop()
