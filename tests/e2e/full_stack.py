"""The whole stack as separate processes (the Spotify fake, auth, tokens, playback, watcher,
gateway) on loopback ports, with topics and consumer groups of its own: for the end-to-end
test and the end-to-end benchmark."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from backbeat.auth.store.migrate import upgrade as migrate_auth
from backbeat.playback.store.migrate import upgrade as migrate_playback
from backbeat.runtime.testing import ServiceProcess, delete_run_topics, free_port, spotify_fake
from backbeat.tokens.store.migrate import upgrade as migrate_tokens

CLIENT_SECRETS = {"watcher": "e2e-watcher-secret", "playback": "e2e-playback-secret"}
# The watcher's polling interval in the end-to-end tests (the benchmark keeps the defaults).
WATCH_INTERVAL_S = 2.0


@dataclass
class FullStack:
    fake: ServiceProcess
    gateway: ServiceProcess
    processes: list[ServiceProcess]
    events_topic: str


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
) -> Iterator[FullStack]:
    """Starts the stack; ``watcher_settings`` and ``gateway_settings`` are extra
    BACKBEAT_WATCHER_* and BACKBEAT_GATEWAY_* values by suffix (``RATE_BUDGET_PER_S``)."""
    migrate_auth(database_urls["auth"])
    migrate_tokens(database_urls["tokens"])
    migrate_playback(database_urls["playback"])
    provision_clients(database_urls["auth"])
    run = uuid.uuid4().hex[:8]
    events_topic = f"e2e.playback.events.{run}"
    connections_topic = f"e2e.spotify.connections.{run}"
    ports = {name: free_port() for name in ("auth", "tokens", "playback", "watcher", "gateway")}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    callback = f"{url['gateway']}/api/spotify/callback"
    common = {"BACKBEAT_ENVIRONMENT": "test", "BACKBEAT_KAFKA_BOOTSTRAP": kafka_bootstrap}
    processes: list[ServiceProcess] = []

    def start(process: ServiceProcess) -> ServiceProcess:
        processes.append(process)
        return process.start(timeout_s=90)

    try:
        fake = start(spotify_fake("--rate-limit", "0"))
        app = httpx.post(f"{fake.url}/_control/clients", json={"redirect_uris": [callback]})
        spotify_app = app.json()
        start(
            ServiceProcess(
                "e2e-auth",
                "backbeat.auth",
                ports["auth"],
                env={
                    **common,
                    "BACKBEAT_AUTH_PORT": str(ports["auth"]),
                    "BACKBEAT_AUTH_DATABASE_URL": database_urls["auth"],
                    "BACKBEAT_AUTH_ISSUER": url["auth"],
                    "BACKBEAT_AUTH_TRUST_FORWARDED_FOR": "true",
                },
            )
        )
        auth_settings = {
            "AUTH_ISSUER": url["auth"],
            "AUTH_JWKS_URL": f"{url['auth']}/.well-known/jwks.json",
        }
        start(
            ServiceProcess(
                "e2e-tokens",
                "backbeat.tokens",
                ports["tokens"],
                env={
                    **common,
                    **{f"BACKBEAT_TOKENS_{k}": v for k, v in auth_settings.items()},
                    "BACKBEAT_TOKENS_PORT": str(ports["tokens"]),
                    "BACKBEAT_TOKENS_DATABASE_URL": database_urls["tokens"],
                    "BACKBEAT_TOKENS_SPOTIFY_CLIENT_ID": spotify_app["client_id"],
                    "BACKBEAT_TOKENS_SPOTIFY_CLIENT_SECRET": spotify_app["client_secret"],
                    "BACKBEAT_TOKENS_SPOTIFY_ACCOUNTS_URL": fake.url,
                    "BACKBEAT_TOKENS_SPOTIFY_API_URL": fake.url,
                    "BACKBEAT_TOKENS_SPOTIFY_REDIRECT_URI": callback,
                    "BACKBEAT_TOKENS_WEB_UI_URL": f"{url['gateway']}/",
                    "BACKBEAT_TOKENS_CONNECTIONS_TOPIC": connections_topic,
                },
            )
        )
        service_client = {
            "AUTH_TOKEN_URL": f"{url['auth']}/oauth/token",
            "TOKENS_URL": url["tokens"],
            "SPOTIFY_API_URL": fake.url,
        }
        start(
            ServiceProcess(
                "e2e-playback",
                "backbeat.playback",
                ports["playback"],
                env={
                    **common,
                    **{f"BACKBEAT_PLAYBACK_{k}": v for k, v in auth_settings.items()},
                    **{f"BACKBEAT_PLAYBACK_{k}": v for k, v in service_client.items()},
                    "BACKBEAT_PLAYBACK_PORT": str(ports["playback"]),
                    "BACKBEAT_PLAYBACK_DATABASE_URL": database_urls["playback"],
                    "BACKBEAT_PLAYBACK_CLIENT_SECRET": CLIENT_SECRETS["playback"],
                    "BACKBEAT_PLAYBACK_EVENTS_TOPIC": events_topic,
                    "BACKBEAT_PLAYBACK_DEAD_LETTER_TOPIC": f"{events_topic}.dlq",
                    "BACKBEAT_PLAYBACK_CONSUMER_GROUP": f"e2e-playback-{run}",
                    "BACKBEAT_PLAYBACK_ERASURE_CONSUMER_GROUP": f"e2e-erasure-{run}",
                },
            )
        )
        start(
            ServiceProcess(
                "e2e-watcher",
                "backbeat.watcher",
                ports["watcher"],
                env={
                    **common,
                    **{f"BACKBEAT_WATCHER_{k}": v for k, v in service_client.items()},
                    "BACKBEAT_WATCHER_PORT": str(ports["watcher"]),
                    "BACKBEAT_WATCHER_CLIENT_SECRET": CLIENT_SECRETS["watcher"],
                    "BACKBEAT_WATCHER_SPOTIFY_ACCOUNTS_URL": fake.url,
                    "BACKBEAT_WATCHER_EVENTS_TOPIC": events_topic,
                    "BACKBEAT_WATCHER_CONNECTIONS_TOPIC": connections_topic,
                    "BACKBEAT_WATCHER_STATE_TOPIC": f"e2e.watcher.state.{run}",
                    "BACKBEAT_WATCHER_CONSUMER_GROUP": f"e2e-watcher-{run}",
                    "BACKBEAT_WATCHER_TRANSACTIONAL_ID_PREFIX": f"e2e-watcher-{run}",
                    **{f"BACKBEAT_WATCHER_{k}": v for k, v in (watcher_settings or {}).items()},
                },
            )
        )
        gateway = start(
            ServiceProcess(
                "e2e-gateway",
                "backbeat.gateway",
                ports["gateway"],
                env={
                    **common,
                    **{f"BACKBEAT_GATEWAY_{k}": v for k, v in auth_settings.items()},
                    "BACKBEAT_GATEWAY_PORT": str(ports["gateway"]),
                    "BACKBEAT_GATEWAY_AUTH_URL": url["auth"],
                    "BACKBEAT_GATEWAY_TOKENS_URL": url["tokens"],
                    "BACKBEAT_GATEWAY_PLAYBACK_URL": url["playback"],
                    **{f"BACKBEAT_GATEWAY_{k}": v for k, v in (gateway_settings or {}).items()},
                },
            )
        )
        yield FullStack(fake=fake, gateway=gateway, processes=processes, events_topic=events_topic)
    finally:
        for process in reversed(processes):
            process.stop()
        asyncio.run(delete_run_topics(kafka_bootstrap, run))
