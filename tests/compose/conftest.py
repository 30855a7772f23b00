"""The stack of docker-compose.yml, as `docker compose` runs it, for the tests of this package
(``pytest --compose tests/compose``, or ``make compose-test``).

One throwaway compose project per run, on free host ports, with two watchers and two playback
instances, removed with its volumes at the end. The engine and the base images come from
infra/docker/engine.sh and infra/docker/images.sh, as for ``make compose-up``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from backbeat.runtime.testing import free_port
from tests.containers import base_images

REPO = Path(__file__).resolve().parents[2]
WATCHERS = 2
PLAYBACKS = 2


@dataclass
class Endpoint:
    url: str


@dataclass
class ComposeStack:
    """A running compose project; ``gateway`` and ``fake`` as the end-to-end tests expect."""

    project: str
    gateway: Endpoint
    fake: Endpoint
    env: dict[str, str] = field(repr=False)

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*compose_command(self.project), *args],
            env=self.env,
            cwd=REPO,
            check=check,
            capture_output=True,
            text=True,
        )

    def containers(self, service: str, *, running_only: bool = True) -> list[str]:
        """Container ids of ``service``, in the order of their replica numbers."""
        listed = self.compose("ps", "--format", "json", *([] if running_only else ["-a"]), service)
        rows = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
        return [row["ID"] for row in sorted(rows, key=lambda row: row["Name"])]

    def published_url(self, container: str, port: int) -> str:
        """The loopback URL at which ``container``'s ``port`` is published."""
        out = subprocess.run(
            ["docker", "port", container, f"{port}/tcp"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        host_port = out.splitlines()[0].rsplit(":", 1)[1]
        return f"http://127.0.0.1:{host_port}"

    def metric(self, container: str, port: int, name: str) -> float:
        """The value of the unlabelled metric ``name`` of ``container``."""
        text = httpx.get(f"{self.published_url(container, port)}/metrics", timeout=5).text
        for line in text.splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
        raise AssertionError(f"{name} not among {container}'s metrics")


def compose_command(project: str) -> list[str]:
    return [
        "docker",
        "compose",
        "--project-directory",
        str(REPO),
        "-p",
        project,
        "-f",
        str(REPO / "docker-compose.yml"),
        "-f",
        str(REPO / "tests/compose/compose.test.yml"),
        "--profile",
        "dev",
    ]


def wait_until(check, what: str, within_s: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within_s
    while True:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen within {within_s} s")
        time.sleep(0.5)


@pytest.fixture(scope="package")
def compose_stack(test_output: Path) -> Iterator[ComposeStack]:
    project = f"backbeat-test-{uuid.uuid4().hex[:6]}"
    gateway_port, fake_port = free_port(), free_port()
    env = {
        **os.environ,
        **base_images(REPO),
        "BACKBEAT_COMPOSE_PORT": str(gateway_port),
        "BACKBEAT_COMPOSE_SPOTIFY_PORT": str(fake_port),
        # Every test user signs up and in from this one address.
        "BACKBEAT_COMPOSE_PASSWORD_RATE_PER_S": "1000",
        "BACKBEAT_COMPOSE_PASSWORD_BURST": "1000",
    }
    stack = ComposeStack(
        project=project,
        gateway=Endpoint(f"http://127.0.0.1:{gateway_port}"),
        fake=Endpoint(f"http://127.0.0.1:{fake_port}"),
        env=env,
    )
    try:
        stack.compose("build", "-q")
        up = stack.compose(
            "up",
            "-d",
            "--wait",
            "--scale",
            f"watcher={WATCHERS}",
            "--scale",
            f"playback={PLAYBACKS}",
            check=False,
        )
        assert up.returncode == 0, up.stderr[-3000:]
        yield stack
    finally:
        logs = stack.compose("logs", "--no-color", "--timestamps", check=False)
        (test_output / f"{project}.log").write_text(logs.stdout + logs.stderr)
        stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "10", check=False)


@pytest.fixture(scope="package")
def whole_stack(compose_stack: ComposeStack) -> ComposeStack:
    """The compose stack under the name the end-to-end tests of tests/e2e ask for."""
    return compose_stack
