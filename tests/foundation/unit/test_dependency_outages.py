"""A dependency's outage is told in a few log lines, not one per failed retry: the start once,
a reminder at most every 30 s with the errors held back, the end once; readiness and the
``backbeat_dependency_up`` gauge say the same."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy.exc import IntegrityError

from backbeat.runtime.http import create_service_app
from backbeat.runtime.kafka import TopicSpec, topics_without_leaders
from backbeat.runtime.logging import JsonFormatter
from backbeat.runtime.outages import (
    DATABASE,
    DependencyCollector,
    OutageFilter,
    Outages,
    dependency_failure,
    outages,
    watch_outages,
)
from backbeat.runtime.testing import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Process:
    """A process's logging as ``configure_logging`` sets it up, writing to a buffer."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.out = io.StringIO()
        handler = logging.StreamHandler(self.out)
        handler.setFormatter(JsonFormatter("example"))
        self.logger = logging.getLogger(f"test-outages-{id(self)}")
        self.outages = Outages(clock=self.clock, logger=self.logger.getChild("outages"))
        handler.addFilter(OutageFilter(self.outages))
        self.handler = handler
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(handler)
        # Library records arrive through the root logger's handler in a service.
        self.aiokafka = logging.getLogger("aiokafka")
        self.aiokafka.addHandler(handler)
        self.sqlalchemy = logging.getLogger("backbeat.example.relay")
        self.sqlalchemy.addHandler(handler)

    def close(self) -> None:
        self.aiokafka.removeHandler(self.handler)
        self.sqlalchemy.removeHandler(self.handler)

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.out.getvalue().splitlines()]

    def messages(self) -> list[str]:
        return [str(line["msg"]) for line in self.lines()]


@pytest.fixture
def process() -> Iterator[Process]:
    p = Process()
    yield p
    p.close()


def broker_refused(process: Process) -> None:
    process.aiokafka.error(
        'Unable connect to "%s:%s": %s',
        "127.0.0.1",
        9092,
        KafkaConnectionError("Connect call failed ('127.0.0.1', 9092)"),
    )


def test_a_twenty_second_broker_outage_is_two_lines_not_thousands(process: Process) -> None:
    # About what one process logged per second during a 20 s broker restart before.
    for _ in range(20):
        for _ in range(100):
            broker_refused(process)
        process.clock.now += 1
    process.outages.recovered("kafka")

    lines = process.lines()
    assert [line["msg"] for line in lines] == ["kafka unreachable", "kafka reachable again"]
    assert lines[0]["dependency"] == "kafka"
    assert "Unable connect" in str(lines[0]["error"])
    assert lines[1]["errors_suppressed"] == 2000
    assert lines[1]["down_s"] == 20.0


def test_a_long_outage_is_reminded_at_most_every_thirty_seconds_with_the_count(
    process: Process,
) -> None:
    for _ in range(70):
        for _ in range(10):
            broker_refused(process)
        process.clock.now += 1
    process.outages.recovered("kafka")

    lines = process.lines()
    assert [line["msg"] for line in lines] == [
        "kafka unreachable",
        "kafka still unreachable",
        "kafka still unreachable",
        "kafka reachable again",
    ]
    assert lines[1]["down_s"] == 30.0
    assert lines[1]["errors_suppressed"] == 300
    assert lines[2]["errors_suppressed"] == 300
    assert lines[3]["errors_suppressed"] == 700


def test_records_that_follow_from_the_outage_are_held_and_others_pass(process: Process) -> None:
    coordinator = logging.getLogger("aiokafka.consumer.group_coordinator")
    # A broker that answers with an error is not an outage: the line is written.
    coordinator.warning("Heartbeat failed for group %s because it is rebalancing", "g")
    coordinator.error(
        "Group Coordinator Request failed: %s", "[Error 15] GroupCoordinatorNotAvailableError"
    )
    broker_refused(process)
    coordinator.error("OffsetCommit failed before join, ignoring: %s", "timeout")
    process.logger.info("user signed in")
    process.logger.error("a failure of the service's own")
    process.outages.recovered("kafka")

    assert process.messages() == [
        "Heartbeat failed for group g because it is rebalancing",
        "Group Coordinator Request failed: [Error 15] GroupCoordinatorNotAvailableError",
        "kafka unreachable",
        "user signed in",
        "a failure of the service's own",
        "kafka reachable again",
    ]


def test_a_database_error_that_is_no_outage_is_written_as_it_is(process: Process) -> None:
    try:
        raise IntegrityError("INSERT INTO plays", {}, ValueError("duplicate key"))
    except IntegrityError:
        process.sqlalchemy.exception("could not record the play")
    assert process.messages() == ["could not record the play"]
    assert not process.outages.is_down("database")


def test_a_kafka_error_logged_by_a_framework_counts_for_kafka(process: Process) -> None:
    try:
        raise KafkaConnectionError("No connection to node with id 1")
    except KafkaConnectionError:
        process.sqlalchemy.exception("Kafka error occurred")
    assert process.outages.is_down("kafka")
    assert process.messages() == ["kafka unreachable"]


async def test_a_real_refused_connection_is_recognised_for_kafka_and_for_the_database(
    process: Process,
) -> None:
    port = free_port()
    admin = AIOKafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=1000)
    with pytest.raises(KafkaConnectionError):
        await admin.start()
    try:
        await asyncpg.connect(f"postgresql://nobody@127.0.0.1:{port}/none", timeout=2)
    except OSError:
        for _ in range(50):
            process.sqlalchemy.exception("outbox relay failed; retrying")
    process.outages.recovered("database")

    assert process.messages() == [
        "kafka unreachable",  # aiokafka's own "Unable connect" record
        "database unreachable",
        "database reachable again",
    ]
    assert process.lines()[2]["errors_suppressed"] == 50


def test_the_gauge_says_which_dependency_is_down() -> None:
    clock = Clock()
    tracked = Outages(clock=clock, logger=logging.getLogger("test-outages-gauge"))
    registry = CollectorRegistry()
    registry.register(DependencyCollector(tracked, ["kafka", "database"]))

    def metrics() -> str:
        return generate_latest(registry).decode()

    assert 'backbeat_dependency_up{dependency="kafka"} 1.0' in metrics()
    tracked.failed("kafka", "refused")
    tracked.failed("kafka", "refused")
    text = metrics()
    assert 'backbeat_dependency_up{dependency="kafka"} 0.0' in text
    assert 'backbeat_dependency_up{dependency="database"} 1.0' in text
    assert 'backbeat_dependency_errors_suppressed_total{dependency="kafka"} 2.0' in text
    tracked.recovered("kafka")
    assert 'backbeat_dependency_up{dependency="kafka"} 1.0' in metrics()


async def test_the_outage_ends_as_soon_as_the_probe_answers() -> None:
    tracked = Outages(logger=logging.getLogger("test-outages-probe"))
    tracked.failed("kafka", "refused")
    answers = asyncio.Event()

    async def kafka_check() -> None:
        if not answers.is_set():
            raise KafkaConnectionError("refused")

    watching = asyncio.create_task(watch_outages(tracked, {"kafka": kafka_check}, interval_s=0.01))
    try:
        await asyncio.sleep(0.1)
        assert tracked.is_down("kafka")
        answers.set()
        async with asyncio.timeout(5):
            while tracked.is_down("kafka"):  # noqa: ASYNC110 - the state has no event to await
                await asyncio.sleep(0.01)
    finally:
        watching.cancel()


async def test_without_a_probe_the_outage_ends_after_a_quiet_spell() -> None:
    clock = Clock()
    tracked = Outages(clock=clock, logger=logging.getLogger("test-outages-quiet"))
    tracked.failed("kafka", "refused")
    watching = asyncio.create_task(watch_outages(tracked, {}, interval_s=0.01, quiet_end_s=15))
    try:
        await asyncio.sleep(0.05)
        assert tracked.is_down("kafka")
        clock.now += 15
        async with asyncio.timeout(5):
            while tracked.is_down("kafka"):  # noqa: ASYNC110 - the state has no event to await
                await asyncio.sleep(0.01)
    finally:
        watching.cancel()


async def test_readiness_and_metrics_report_a_dependency_outage_and_its_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reachable = False

    async def kafka_ready() -> None:
        if not reachable:
            raise KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 1)]")

    app = create_service_app(service="example", title="Example", readiness={"kafka": kafka_ready})
    transport = httpx.ASGITransport(app=app)
    caplog.set_level(logging.WARNING, logger="backbeat.runtime.outages")
    outages.recovered("kafka")  # the process's state, which earlier tests may have left down
    earlier = len(caplog.records)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        down = await client.get("/health/ready")
        down_metrics = (await client.get("/metrics")).text
        await client.get("/health/ready")
        reachable = True
        up = await client.get("/health/ready")
        up_metrics = (await client.get("/metrics")).text

    assert down.status_code == 503
    assert down.json()["checks"] == {"kafka": "failing: KafkaConnectionError"}
    assert 'backbeat_dependency_up{dependency="kafka"} 0.0' in down_metrics
    assert up.status_code == 200
    assert 'backbeat_dependency_up{dependency="kafka"} 1.0' in up_metrics
    told = [
        r.getMessage() for r in caplog.records[earlier:] if r.name == "backbeat.runtime.outages"
    ]
    assert told == ["kafka unreachable", "kafka reachable again"]
    assert not outages.is_down("kafka")


def test_a_created_topic_waits_until_every_partition_has_a_leader() -> None:
    spec = TopicSpec("t", partitions=3)

    def described(*leaders: int, error: int = 0) -> list[dict[str, object]]:
        partitions = [
            {"error_code": 0, "partition": n, "leader": leader} for n, leader in enumerate(leaders)
        ]
        return [{"error_code": error, "topic": "t", "partitions": partitions}]

    assert topics_without_leaders([], [spec]) == ["t"]
    assert topics_without_leaders(described(error=3), [spec]) == ["t"]  # unknown yet
    assert topics_without_leaders(described(1, -1, 1), [spec]) == ["t"]  # one leaderless
    assert topics_without_leaders(described(1, 1), [spec]) == ["t"]  # one not listed yet
    assert topics_without_leaders(described(1, 1, 1), [spec]) == []


class StoreFailure(Exception):
    """A service's own wrapper of a database error, as playback's retry raises it."""


def test_a_retry_line_that_names_its_dependency_is_held_during_the_outage(
    process: Process,
) -> None:
    refused = StoreFailure("database unavailable: ConnectionRefusedError")
    refused.__cause__ = ConnectionRefusedError(111, "Connect call failed")
    deadlock = StoreFailure("DBAPIError (SQLSTATE 40P01)")
    retrying = process.sqlalchemy
    retrying.warning("retrying", extra=dependency_failure(DATABASE, deadlock))  # no outage
    for _ in range(30):
        retrying.warning("retrying", extra=dependency_failure(DATABASE, refused))
    retrying.warning("retrying", extra=dependency_failure(DATABASE, deadlock))  # held now
    process.outages.recovered("database")

    assert process.messages() == [
        "retrying",
        "database unreachable",
        "database reachable again",
    ]
    assert process.lines()[-1]["errors_suppressed"] == 31


def test_an_error_group_counts_through_its_members(process: Process) -> None:
    def refused() -> StoreFailure:
        failure = StoreFailure("database unavailable")
        failure.__cause__ = KafkaConnectionError("Connection at 127.0.0.1:9092 closed")
        return failure

    try:
        raise ExceptionGroup("unhandled errors in a TaskGroup", [refused(), refused()])
    except ExceptionGroup:
        process.sqlalchemy.exception("ExceptionGroup: unhandled errors in a TaskGroup")
    assert process.messages() == ["kafka unreachable"]


def test_the_clients_finding_their_way_back_are_told_by_the_end_of_the_outage(
    process: Process,
) -> None:
    coordinator = logging.getLogger("aiokafka.consumer.group_coordinator")
    broker_refused(process)
    process.clock.now += 20
    process.outages.recovered("kafka")
    process.clock.now += 1
    coordinator.warning("Heartbeat failed for group g: coordinator (node 1) is not valid")
    coordinator.error("Heartbeat session expired - marking coordinator dead")
    process.clock.now += 10
    coordinator.warning("Heartbeat failed for group g because it is rebalancing")

    assert process.messages() == [
        "kafka unreachable",
        "kafka reachable again",
        "Heartbeat failed for group g because it is rebalancing",
    ]
