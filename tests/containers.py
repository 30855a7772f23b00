"""Opt-in (``pytest --testcontainers``): PostgreSQL and Kafka in Docker containers.

The PostgreSQL container runs the same init script as docker-compose.yml, so roles, databases
and grants are the ones the local scripts create.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def start_containers(repo: Path) -> list[Any]:
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.postgres import PostgresContainer

    postgres = PostgresContainer("postgres:15", username="postgres", password="postgres")
    postgres.with_volume_mapping(
        str(repo / "infra/postgres/init.sql"), "/docker-entrypoint-initdb.d/init.sql"
    )
    kafka = KafkaContainer("apache/kafka:4.4.0").with_kraft()
    postgres.start()
    kafka.start()
    host = postgres.get_container_host_ip()
    port = postgres.get_exposed_port(5432)
    for service in ("auth", "tokens", "playback"):
        os.environ[f"BACKBEAT_TEST_{service.upper()}_DATABASE_URL"] = (
            f"postgresql+asyncpg://{service}:backbeat-dev-{service}@{host}:{port}/{service}_test"
        )
    os.environ["BACKBEAT_KAFKA_BOOTSTRAP"] = kafka.get_bootstrap_server()
    return [kafka, postgres]
