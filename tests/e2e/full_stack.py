"""The whole stack as separate processes (the Spotify fake, auth, tokens, playback, watcher,
gateway) on loopback ports, with topics and consumer groups of its own: for the end-to-end
test and the end-to-end benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from backbeat.auth.store.migrate import upgrade as migrate_auth
from backbeat.playback.store.migrate import upgrade as migrate_playback
from backbeat.runtime.testing import (
    ServiceProcess,
    delete_run_topics,
    free_port,
    run_apart,
    service_process,
    spotify_fake,
)
from backbeat.tokens.store.migrate import upgrade as migrate_tokens
from backbeat.tokens.testing import tokens_process

CLIENT_SECRETS = {"watcher": "e2e-watcher-secret", "playback": "e2e-playback-secret"}
# The watcher's polling interval in the end-to-end tests (the benchmark keeps the defaults).
WATCH_INTERVAL_S = 2.0


@dataclass
class FullStack:
    fake: ServiceProcess
    gateway: ServiceProcess
    processes: list[ServiceProcess]
    events_topic: str
    connections_topic: str = ""
    # Each service's own address, for tests that check a service behind the gateway.
    urls: dict[str, str] = field(default_factory=dict)


def provision_clients(auth_database_url: str) -> None:
    for client, secret in CLIENT_SECRETS.items():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "backbeat.auth.clients",
                "ensure",
                "--name",
                client,
                "--audience",
                "tokens",
                "--scope",
                "tokens:read",
                "--secret-env",
                "E2E_CLIENT_SECRET",
            ],
            env={
                **os.environ,
                "BACKBEAT_AUTH_DATABASE_URL": auth_database_url,
                "E2E_CLIENT_SECRET": secret,
            },
            check=True,
            capture_output=True,
        )


@contextmanager
def full_stack(
    database_urls: Mapping[str, str],
    kafka_bootstrap: str,
    *,
    watcher_settings: Mapping[str, str] | None = None,
    gateway_settings: Mapping[str, str] | None = None,
    fake_args: Sequence[str] = (),
) -> Iterator[FullStack]:
    """Starts the stack; ``watcher_settings`` and ``gateway_settings`` are extra
    BACKBEAT_WATCHER_* and BACKBEAT_GATEWAY_* values by suffix (``RATE_BUDGET_PER_S``),
    ``fake_args`` extra arguments of the Spotify fake (``--catalogue short``)."""
    migrate_auth(database_urls["auth"])
    migrate_tokens(database_urls["tokens"])
    migrate_playback(database_urls["playback"])
    provision_clients(database_urls["auth"])
    run = uuid.uuid4().hex[:8]
    events_topic = f"e2e.playback.events.{run}"
    connections_topic = f"e2e.spotify.connections.{run}"
    users_topic = f"e2e.auth.users.{run}"
    revocations_topic = f"e2e.auth.revocations.{run}"
    presence_topic = f"e2e.playback.presence.{run}"
    ports = {name: free_port() for name in ("auth", "tokens", "playback", "watcher", "gateway")}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    callback = f"{url['gateway']}/api/spotify/callback"
    common = {"BACKBEAT_ENVIRONMENT": "test", "BACKBEAT_KAFKA_BOOTSTRAP": kafka_bootstrap}
    processes: list[ServiceProcess] = []

    def start(process: ServiceProcess) -> ServiceProcess:
        processes.append(process)
        return process.start(timeout_s=90)

    try:
        fake = start(spotify_fake("--rate-limit", "0", *fake_args))
        app = httpx.post(f"{fake.url}/_control/clients", json={"redirect_uris": [callback]})
        spotify_app = app.json()
        start(
            service_process(
                "auth",
                {
                    "DATABASE_URL": database_urls["auth"],
                    "ISSUER": url["auth"],
                    "USERS_TOPIC": users_topic,
                    "REVOCATIONS_TOPIC": revocations_topic,
                },
                env=common,
                name="e2e-auth",
                port=ports["auth"],
            )
        )
        auth_settings = {
            "AUTH_ISSUER": url["auth"],
            "AUTH_JWKS_URL": f"{url['auth']}/.well-known/jwks.json",
        }
        start(
            tokens_process(
                database_url=database_urls["tokens"],
                kafka_bootstrap=kafka_bootstrap,
                auth_issuer=auth_settings["AUTH_ISSUER"],
                jwks_url=auth_settings["AUTH_JWKS_URL"],
                spotify_url=fake.url,
                spotify_app=spotify_app,
                redirect_uri=callback,
                connections_topic=connections_topic,
                users_topic=users_topic,
                revocations_topic=revocations_topic,
                name="e2e-tokens",
                port=ports["tokens"],
                settings={"WEB_UI_URL": f"{url['gateway']}/"},
                env=common,
            )
        )
        service_client = {
            "AUTH_TOKEN_URL": f"{url['auth']}/oauth/token",
            "TOKENS_URL": url["tokens"],
            "SPOTIFY_API_URL": fake.url,
        }
        start(
            service_process(
                "playback",
                {
                    **auth_settings,
                    **service_client,
                    "DATABASE_URL": database_urls["playback"],
                    "CLIENT_SECRET": CLIENT_SECRETS["playback"],
                    "EVENTS_TOPIC": events_topic,
                    "DEAD_LETTER_TOPIC": f"{events_topic}.dlq",
                    "USERS_TOPIC": users_topic,
                    "REVOCATIONS_TOPIC": revocations_topic,
                    "PRESENCE_TOPIC": presence_topic,
                    "CONSUMER_GROUP": f"e2e-playback-{run}",
                    "ERASURE_CONSUMER_GROUP": f"e2e-erasure-{run}",
                },
                env=common,
                name="e2e-playback",
                port=ports["playback"],
            )
        )
        start(
            service_process(
                "watcher",
                {
                    **service_client,
                    "CLIENT_SECRET": CLIENT_SECRETS["watcher"],
                    "SPOTIFY_ACCOUNTS_URL": fake.url,
                    "EVENTS_TOPIC": events_topic,
                    "CONNECTIONS_TOPIC": connections_topic,
                    "STATE_TOPIC": f"e2e.watcher.state.{run}",
                    "PRESENCE_TOPIC": presence_topic,
                    "CONSUMER_GROUP": f"e2e-watcher-{run}",
                    "TRANSACTIONAL_ID_PREFIX": f"e2e-watcher-{run}",
                    **(watcher_settings or {}),
                },
                env=common,
                name="e2e-watcher",
                port=ports["watcher"],
            )
        )
        gateway = start(
            service_process(
                "gateway",
                {
                    **auth_settings,
                    "AUTH_URL": url["auth"],
                    "TOKENS_URL": url["tokens"],
                    "PLAYBACK_URL": url["playback"],
                    "REVOCATIONS_TOPIC": revocations_topic,
                    **(gateway_settings or {}),
                },
                env=common,
                name="e2e-gateway",
                port=ports["gateway"],
            )
        )
        yield FullStack(
            fake=fake,
            gateway=gateway,
            processes=processes,
            events_topic=events_topic,
            connections_topic=connections_topic,
            urls=url,
        )
    finally:
        for process in reversed(processes):
            process.stop()
        run_apart(delete_run_topics(kafka_bootstrap, run))
