"""Shared test fixtures: where the real PostgreSQL and Kafka are, unique names per test.

The suite uses the infrastructure `make test` brings up on 127.0.0.1, or the services named by
BACKBEAT_KAFKA_BOOTSTRAP and BACKBEAT_TEST_<SERVICE>_DATABASE_URL. With ``--testcontainers``
(where a Docker engine runs) it starts PostgreSQL and Kafka containers instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from backbeat.runtime.testing import delete_topics, run_apart, topic_names

REPO = Path(__file__).resolve().parents[1]
SERVICES_WITH_DATABASES = ("auth", "tokens", "playback")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--testcontainers",
        action="store_true",
        default=False,
        help="start PostgreSQL and Kafka in Docker containers (needs a Docker engine)",
    )
    parser.addoption(
        "--compose",
        action="store_true",
        default=False,
        help="also run tests/compose against a docker compose stack (needs a Docker engine)",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """tests/compose builds and runs the compose stack: only with ``--compose``."""
    if collection_path == REPO / "tests" / "compose" and not config.getoption("--compose"):
        return True
    return None


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--testcontainers"):
        from tests.containers import start_containers

        config._backbeat_containers = start_containers(REPO)  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    for container in getattr(config, "_backbeat_containers", []):
        container.stop()


def default_database_url(service: str, database: str | None = None) -> str:
    return (
        f"postgresql+asyncpg://{service}:backbeat-dev-{service}@127.0.0.1:5432/"
        f"{database or service + '_test'}?ssl=disable"
    )


def test_database_url(service: str) -> str:
    """The URL of ``service``'s test database."""
    return os.environ.get(
        f"BACKBEAT_TEST_{service.upper()}_DATABASE_URL", default_database_url(service)
    )


test_database_url.__test__ = False  # type: ignore[attr-defined]


# Every topic a test creates starts with one of these; the suite deletes the ones it created.
TEST_TOPIC_PREFIXES = ("test.", "e2e.", "gateway-test.")


@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> Iterator[str]:
    """The broker's address. Topics with a test prefix that appear during the session are
    deleted at its end, so repeated runs do not pile partitions up on a developer's broker
    (BACKBEAT_TEST_KEEP_TOPICS=1 keeps them for a look afterwards)."""
    bootstrap = os.environ.get("BACKBEAT_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    before = run_apart(topic_names(bootstrap))
    yield bootstrap
    if os.environ.get("BACKBEAT_TEST_KEEP_TOPICS"):
        return
    created = [
        topic
        for topic in run_apart(topic_names(bootstrap)) - before
        if topic.startswith(TEST_TOPIC_PREFIXES)
    ]
    deleted = run_apart(delete_topics(bootstrap, created))
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if deleted and reporter is not None:
        reporter.write_line(f"deleted the {deleted} Kafka topics this run created")


@pytest.fixture(scope="session")
def database_urls() -> dict[str, str]:
    return {service: test_database_url(service) for service in SERVICES_WITH_DATABASES}


@pytest.fixture
def unique() -> Iterator[str]:
    """A short unique suffix for topic, group and user names, so tests never share state."""
    yield uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def test_output() -> Path:
    out = REPO / "test-output"
    out.mkdir(exist_ok=True)
    return out
