"""Opt-in (``pytest --testcontainers``): PostgreSQL and Kafka in throwaway Docker containers.

The images are the ones docker-compose.yml runs: BACKBEAT_POSTGRES_IMAGE and
BACKBEAT_KAFKA_IMAGE (the official postgres and apache/kafka by default; infra/docker/images.sh
names local equivalents where no registry can be reached). The PostgreSQL container runs the
same init script as docker-compose.yml, so roles, databases and grants are the ones the local
scripts create, and the test databases are migrated as `make test` migrates them.

Both containers sit on a network of their own (the engine may have no default bridge) and
publish their ports on 127.0.0.1 only. The broker's address must be known before it starts
(it advertises it to clients), so its host port is chosen first.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backbeat.runtime.testing import free_port

SERVICES = ("auth", "tokens", "playback")


def base_images(repo: Path) -> dict[str, str]:
    """The engine up and the base images chosen as ``make compose-up`` chooses them: the
    official ones where they are here or can be pulled, local equivalents otherwise."""
    subprocess.run(["bash", str(repo / "infra/docker/engine.sh"), "up"], check=True)
    chosen = subprocess.run(
        ["bash", str(repo / "infra/docker/images.sh")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(line.split("=", 1) for line in chosen.splitlines() if "=" in line)


@dataclass
class Containers:
    postgres: Any
    kafka: Any
    network: Any

    def stop(self) -> None:
        for container in (self.kafka, self.postgres):
            if container is not None:
                container.stop()
        if self.network is not None:
            self.network.remove()


def on_loopback(container: Any, port: int, host_port: int | None = None) -> Any:
    """Publishes ``port`` on 127.0.0.1 only (at ``host_port``, or one the engine picks):
    docker-py reads an (address, port) pair as such a binding."""
    for key in (port, str(port), f"{port}/tcp"):
        container.ports.pop(key, None)
    container.ports[f"{port}/tcp"] = ("127.0.0.1", host_port) if host_port else ("127.0.0.1",)
    return container


def kafka_container(image: str, network: Any, port: int) -> Any:
    from testcontainers.core.container import DockerContainer

    settings = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        # Clients reach the broker at the host port; the broker reaches itself (transaction
        # markers, for one) on a listener of its own inside the container.
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,BROKER://:9094,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{port},BROKER://localhost:9094",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
            "PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT"
        ),
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_NUM_PARTITIONS": "6",
        # One broker: a write is durable once that broker has it (as infra/kafka configures).
        "KAFKA_MIN_INSYNC_REPLICAS": "1",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_LOG_DIRS": "/var/lib/kafka/data",
        "KAFKA_HEAP_OPTS": "-Xmx512m -Xms128m",
    }
    container = DockerContainer(image).with_network(network)
    for name, value in settings.items():
        container.with_env(name, value)
    return on_loopback(container, 9092, port)


def wait_for_kafka(repo: Path, bootstrap: str, container: Any, within_s: float = 120) -> None:
    deadline = time.monotonic() + within_s
    ready = [sys.executable, str(repo / "infra/kafka/ready.py"), bootstrap]
    while subprocess.run(ready, check=False, capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            logs = container.get_logs()[0].decode(errors="replace")[-3000:]
            raise RuntimeError(f"the Kafka container did not answer within {within_s} s:\n{logs}")
        time.sleep(1)


def start_containers(repo: Path) -> list[Containers]:
    # Ryuk, the reaper testcontainers starts by default, is one more image to pull; the
    # session stops its containers itself (pytest_unconfigure).
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    for name, image in base_images(repo).items():
        os.environ.setdefault(name, image)
    from testcontainers.community.postgres import PostgresContainer
    from testcontainers.core.network import Network

    from backbeat.auth.store.migrate import upgrade as migrate_auth
    from backbeat.playback.store.migrate import upgrade as migrate_playback
    from backbeat.tokens.store.migrate import upgrade as migrate_tokens

    started = Containers(postgres=None, kafka=None, network=Network().create())
    try:
        postgres = on_loopback(
            PostgresContainer(
                os.environ.get("BACKBEAT_POSTGRES_IMAGE", "postgres:15"),
                username="postgres",
                password="postgres",
            )
            .with_network(started.network)
            .with_volume_mapping(
                str(repo / "infra/postgres/init.sql"), "/docker-entrypoint-initdb.d/init.sql"
            ),
            5432,
        )
        kafka_port = free_port()
        kafka = kafka_container(
            os.environ.get("BACKBEAT_KAFKA_IMAGE", "apache/kafka:4.4.0"),
            started.network,
            kafka_port,
        )
        started.postgres = postgres.start()
        started.kafka = kafka.start()
        bootstrap = f"127.0.0.1:{kafka_port}"
        host, port = "127.0.0.1", postgres.get_exposed_port(5432)
        for service in SERVICES:
            os.environ[f"BACKBEAT_TEST_{service.upper()}_DATABASE_URL"] = (
                f"postgresql+asyncpg://{service}:backbeat-dev-{service}@{host}:{port}/"
                f"{service}_test?ssl=disable"
            )
        migrate_auth(os.environ["BACKBEAT_TEST_AUTH_DATABASE_URL"])
        migrate_tokens(os.environ["BACKBEAT_TEST_TOKENS_DATABASE_URL"])
        migrate_playback(os.environ["BACKBEAT_TEST_PLAYBACK_DATABASE_URL"])
        wait_for_kafka(repo, bootstrap, kafka)
        os.environ["BACKBEAT_KAFKA_BOOTSTRAP"] = bootstrap
    except BaseException:
        started.stop()
        raise
    return [started]
