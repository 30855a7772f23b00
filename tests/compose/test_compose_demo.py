"""`make compose-up` seeds the demo user as `make up` does: `compose.sh seed` runs the seed
inside the stack's gateway container, so the demo account signs in through the compose
gateway with its Spotify connected; seeding again changes nothing."""

from __future__ import annotations

import os
import subprocess

import httpx

from tests.compose.conftest import REPO, ComposeStack

DEMO = {"email": "demo-compose@backbeat.dev", "password": "backbeat-demo-compose"}


def seed(stack: ComposeStack) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "infra/docker/compose.sh", "seed"],
        env={
            **stack.env,
            "COMPOSE_PROJECT_NAME": stack.project,
            "BACKBEAT_DEMO_EMAIL": DEMO["email"],
            "BACKBEAT_DEMO_PASSWORD": DEMO["password"],
            "PATH": os.environ["PATH"],
        },
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_demo_user_is_seeded_through_the_compose_gateway(compose_stack: ComposeStack) -> None:
    gateway = compose_stack.gateway.url
    with httpx.Client(timeout=30) as http:
        before = http.post(f"{gateway}/api/auth/login", json=DEMO)
        assert before.status_code == 401  # no such account yet

        for _ in range(2):  # seeding twice is the same as once
            seeded = seed(compose_stack)
            assert seeded.returncode == 0, seeded.stdout + seeded.stderr
            assert f"demo user {DEMO['email']}" in seeded.stdout

        login = http.post(f"{gateway}/api/auth/login", json=DEMO)
        assert login.status_code == 200, login.text
        user = {"Authorization": f"Bearer {login.json()['access_token']}"}
        connection = http.get(f"{gateway}/api/spotify/connection", headers=user)
        assert connection.status_code == 200, connection.text
        assert connection.json()["status"] == "connected"
