"""Each service's process holds its own database password and no other: in the local stack
(infra/stack.sh, infra/stack.env) and in docker-compose.yml. A service that is taken over
then reaches its own database only, as PostgreSQL's grants intend."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
WITH_DATABASES = ("auth", "tokens", "playback")
SERVICES = (*WITH_DATABASES, "watcher", "gateway")
SHARED = {"BACKBEAT_ENVIRONMENT", "BACKBEAT_KAFKA_BOOTSTRAP", "BACKBEAT_LOG_LEVEL"}
# The role and password in a database URL: postgresql+asyncpg://<role>:<password>@host/...
DATABASE_CREDENTIALS = re.compile(
    r"postgres(?:ql)?(?:\+\w+)?://(?P<role>[^:/@\s]+):(?P<pw>[^@\s]+)@"
)

# What an operator may have exported before `make up` (README: an existing PostgreSQL), and
# what a shell that ran the tests keeps: none of it may reach another service.
OPERATOR = {
    "BACKBEAT_AUTH_DATABASE_URL": "postgresql+asyncpg://auth:operator-auth-pw@db:5432/auth",
    "BACKBEAT_TEST_TOKENS_DATABASE_URL": "postgresql+asyncpg://tokens:test-tokens-pw@db/t",
    "BACKBEAT_TOKENS_ENCRYPTION_KEYS": "k9:b3BlcmF0b3Ita2V5LW1hdGVyaWFsLTMyLWJ5dGVzISE=",
}


def stack_environment(name: str) -> dict[str, str]:
    """The environment the local stack gives service ``name``'s process."""
    ran = subprocess.run(
        ["bash", "infra/stack.sh", "run", name, "--", "env", "-0"],
        cwd=REPO,
        env={**os.environ, **OPERATOR},
        capture_output=True,
        check=True,
    )
    pairs = (item.split("=", 1) for item in ran.stdout.decode().split("\0") if "=" in item)
    return dict(pairs)


def database_roles(environment: dict[str, str]) -> dict[str, set[str]]:
    """Each database role whose password some variable holds: the variables holding it."""
    roles: dict[str, set[str]] = {}
    for variable, value in environment.items():
        for found in DATABASE_CREDENTIALS.finditer(str(value)):
            roles.setdefault(found["role"], set()).add(variable)
    return roles


@pytest.mark.parametrize("service", SERVICES)
def test_a_local_stack_service_sees_only_its_own_database_password(service: str) -> None:
    environment = stack_environment(service)
    roles = database_roles(environment)
    if service in WITH_DATABASES:
        assert roles == {service: {f"BACKBEAT_{service.upper()}_DATABASE_URL"}}
    else:
        assert roles == {}
    for variable in environment:
        if variable.startswith("BACKBEAT_") and variable not in SHARED:
            assert variable.startswith(f"BACKBEAT_{service.upper()}_"), variable
    # Nor another's secret under some other name.
    foreign = [f"backbeat-dev-{other}@" for other in WITH_DATABASES if other != service]
    foreign.append("test-tokens-pw")  # the tests' database, no service's
    if service != "auth":
        foreign.append("operator-auth-pw")
    if service != "tokens":
        foreign.append(OPERATOR["BACKBEAT_TOKENS_ENCRYPTION_KEYS"])
    for secret in foreign:
        assert not any(secret in value for value in environment.values()), secret


def test_the_operator_s_own_database_url_reaches_its_service() -> None:
    assert (
        stack_environment("auth")["BACKBEAT_AUTH_DATABASE_URL"]
        == (OPERATOR["BACKBEAT_AUTH_DATABASE_URL"])
    )


def own_role(compose_service: str) -> str | None:
    """Whose database a compose service may reach: auth-migrate and auth-clients are auth's."""
    base = compose_service.split("-")[0]
    return base if base in WITH_DATABASES else None


def test_no_compose_service_sees_another_service_s_database_password() -> None:
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    for name, service in services.items():
        # An env file would hand every service the same variables.
        assert "env_file" not in service, f"{name}: env_file"
        environment = service.get("environment", {})
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        if name == "postgres":
            continue  # the server itself
        roles = database_roles(environment)
        own = own_role(name)
        assert set(roles) <= ({own} if own else set()), f"{name} holds {sorted(roles)}"
        others = [f"backbeat-dev-{other}@" for other in WITH_DATABASES if other != own]
        for variable, value in environment.items():
            assert not any(secret in str(value) for secret in others), f"{name}: {variable}"
