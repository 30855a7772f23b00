"""Gateway test fixtures: the services behind it, started once per test session."""

from __future__ import annotations

import pytest

from tests.gateway.stack import Stack, session_stack


@pytest.fixture(scope="session")
def stack(
    request: pytest.FixtureRequest, database_urls: dict[str, str], kafka_bootstrap: str
) -> Stack:
    return session_stack(request, database_urls, kafka_bootstrap)
