"""docker-compose.yml stays true without a Docker engine to run it."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_parses_and_every_service_has_an_image_or_a_build() -> None:
    services = compose()["services"]
    assert {"kafka", "postgres"} <= set(services)
    for name, service in services.items():
        assert "image" in service or "build" in service, name


def test_every_build_context_and_dockerfile_exists() -> None:
    for name, service in compose()["services"].items():
        build = service.get("build")
        if build is None:
            continue
        context = REPO / (build if isinstance(build, str) else build.get("context", "."))
        assert context.is_dir(), f"{name}: build context {context} is missing"
        dockerfile = (
            "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        )
        assert (context / dockerfile).is_file(), f"{name}: {dockerfile} is missing"


def test_every_mounted_file_exists_and_dependencies_name_real_services() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name}: {source} is missing"
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_postgres_init_creates_a_role_and_database_per_service() -> None:
    sql = (REPO / "infra/postgres/init.sql").read_text()
    for service in ("auth", "tokens", "playback"):
        assert f"CREATE ROLE {service} LOGIN" in sql
        assert f"CREATE DATABASE {service} OWNER {service}" in sql
        assert f"REVOKE ALL ON DATABASE {service} FROM PUBLIC" in sql
