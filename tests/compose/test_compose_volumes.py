"""`docker compose restart kafka postgres` loses nothing: PostgreSQL's and Kafka's data live in
the named volumes, not in the containers' own layers (Kafka's image writes under /tmp unless
told otherwise)."""

from __future__ import annotations

import httpx
import pytest

from tests.compose.conftest import ComposeStack, wait_until
from tests.gateway.stack import PASSWORD, connect_spotify, sign_up

pytestmark = pytest.mark.timeout(600)

WATCHER_PORT = 8004


def test_restarting_kafka_and_postgres_keeps_accounts_and_connections(
    compose_stack: ComposeStack,
) -> None:
    stack = compose_stack
    gateway, fake = stack.gateway.url, stack.fake.url
    account = sign_up(gateway)
    connect_spotify(gateway, fake, account)

    def users_watched() -> int:
        return sum(
            int(stack.metric(watcher, WATCHER_PORT, "watcher_users_owned"))
            for watcher in stack.containers("watcher")
        )

    # Every connected user is watched before the restart (the connections topic has them all).
    wait_until(lambda: users_watched() > 0, "the new connection watched", 60)
    before = users_watched()

    stack.compose("restart", "kafka", "postgres")

    def signs_in() -> bool:
        login = httpx.post(
            f"{gateway}/api/auth/login",
            json={"email": account.email, "password": PASSWORD},
            timeout=10,
        )
        return login.status_code == 200

    # The account is still in PostgreSQL, the connections still on Kafka's topic.
    wait_until(signs_in, "signing in after the restart", 120)
    wait_until(lambda: users_watched() == before, f"{before} users watched after the restart", 120)
