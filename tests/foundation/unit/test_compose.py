"""docker-compose.yml stays true without a Docker engine to run it."""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import yaml
from pydantic import SecretStr

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


def backbeat_services() -> dict[str, dict]:
    return {
        name: service
        for name, service in compose()["services"].items()
        if "dev.backbeat.settings" in service.get("labels", {})
    }


def settings_class(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def must_be_set(field_name: str, default: object) -> bool:
    """Settings whose defaults cannot work in a container: loopback addresses, secrets, URLs
    carrying the development database password."""
    if isinstance(default, SecretStr) or field_name.endswith("database_url"):
        return True
    return isinstance(default, str) and ("127.0.0.1" in default or "localhost" in default)


def test_every_setting_a_service_reads_that_cannot_default_in_a_container_is_set() -> None:
    services = backbeat_services()
    assert {"auth", "tokens", "playback", "watcher", "gateway"} <= set(services)
    for name, service in services.items():
        settings = settings_class(service["labels"]["dev.backbeat.settings"])
        prefix = settings.model_config["env_prefix"]
        environment = service.get("environment", {})
        for field_name, field in settings.model_fields.items():
            variable = f"{prefix}{field_name}".upper()
            if field_name == "kafka_bootstrap":
                assert "BACKBEAT_KAFKA_BOOTSTRAP" in environment, name
            elif field_name == "host":
                listen_all = "0.0.0.0"  # noqa: S104 - containers must listen beyond loopback
                assert environment.get(variable) == listen_all, (
                    f"{name} must listen on {listen_all}"
                )
            elif must_be_set(field_name, field.get_default(call_default_factory=True)):
                assert variable in environment, f"{name}: {variable} is not set"


def test_every_variable_compose_sets_is_one_the_service_reads() -> None:
    for name, service in backbeat_services().items():
        settings = settings_class(service["labels"]["dev.backbeat.settings"])
        prefix = settings.model_config["env_prefix"]
        known = {f"{prefix}{field}".upper() for field in settings.model_fields}
        shared = {"BACKBEAT_ENVIRONMENT", "BACKBEAT_KAFKA_BOOTSTRAP", "BACKBEAT_LOG_LEVEL"}
        for variable in service.get("environment", {}):
            assert variable in known | shared, f"{name}: {variable} is read by nothing"


def backbeat_dependencies(package_dir: Path) -> set[Path]:
    """The package and every Backbeat package it needs, as folders of the repository."""
    by_name = {
        tomllib.loads(p.read_text())["project"]["name"]: p.parent
        for p in REPO.glob("*/*/pyproject.toml")
    }
    needed, todo = set(), [package_dir]
    while todo:
        current = todo.pop()
        if current in needed:
            continue
        needed.add(current)
        project = tomllib.loads((current / "pyproject.toml").read_text())["project"]
        for requirement in project.get("dependencies", []):
            name = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]
            if name in by_name:
                todo.append(by_name[name])
    return needed


def test_each_image_installs_every_backbeat_package_its_module_needs() -> None:
    for name, service in compose()["services"].items():
        build = service.get("build")
        if not build:
            continue
        args = build["args"]
        module = args["MODULE"].removeprefix("backbeat.")
        package = next(
            p.parent
            for p in REPO.glob("*/*/pyproject.toml")
            if (p.parent / "src" / "backbeat" / module).is_dir()
        )
        installed = set(args["PACKAGES"].split())
        for needed in backbeat_dependencies(package):
            relative = f"./{needed.relative_to(REPO).as_posix()}"
            assert relative in installed, f"{name}: {relative} is not installed"
        command = service.get("command")
        if command and command[0] == "python":
            ran = command[command.index("-m") + 1]
            assert ran.startswith(args["MODULE"]), f"{name} runs {ran} from {args['MODULE']}"
