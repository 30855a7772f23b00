"""The services behind the gateway, run as processes for the gateway, browser and API-schema
tests: the Spotify fake, auth, tokens, playback, an echo upstream, and gateways in front of them."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx

from backbeat.auth.clients import register_client
from backbeat.auth.store.migrate import upgrade as migrate_auth
from backbeat.playback.store.migrate import upgrade as migrate_playback
from backbeat.runtime.database import Database
from backbeat.runtime.testing import ServiceProcess, free_port, service_process, spotify_fake
from backbeat.tokens.store.migrate import upgrade as migrate_tokens
from backbeat.tokens.testing import tokens_process

PASSWORD = "correct horse battery staple"


@dataclass
class Account:
    email: str
    user_id: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


@dataclass
class Stack:
    """auth, tokens, the Spotify fake and a playback upstream; gateways are added per test
    module with the settings it needs."""

    fake: ServiceProcess
    auth: ServiceProcess
    tokens: ServiceProcess
    playback: ServiceProcess
    # Shows what a service receives from the gateway (tests.gateway.echo_upstream).
    echo: ServiceProcess
    gateway_port: int
    kafka_bootstrap: str
    processes: list[ServiceProcess] = field(default_factory=list)
    # Auth trusts the client addresses gateways sign with it; one per run, never a default.
    edge_secret: str = ""
    # Where the run's auth publishes account deletions and ended sessions.
    users_topic: str = ""
    revocations_topic: str = ""
    # Playback's: what its live streams follow, and who has one open.
    events_topic: str = ""
    presence_topic: str = ""
    _main_gateway: ServiceProcess | None = None
    _echo_gateway: ServiceProcess | None = None

    @property
    def issuer(self) -> str:
        return self.auth.url

    @property
    def jwks_url(self) -> str:
        return f"{self.auth.url}/.well-known/jwks.json"

    def gateway(
        self,
        name: str = "gateway",
        *,
        port: int | None = None,
        playback_url: str | None = None,
        **settings: str,
    ) -> ServiceProcess:
        """A started gateway in front of the stack; ``settings`` are BACKBEAT_GATEWAY_* values
        by lowercase name (``max_body_bytes="1024"``)."""
        return self.start(
            service_process(
                "gateway",
                {
                    "AUTH_URL": self.auth.url,
                    "TOKENS_URL": self.tokens.url,
                    "PLAYBACK_URL": playback_url or self.playback.url,
                    "AUTH_ISSUER": self.issuer,
                    "AUTH_JWKS_URL": self.jwks_url,
                    "EDGE_SECRET": self.edge_secret,
                    "REVOCATIONS_TOPIC": self.revocations_topic,
                    # Tests sign many users up and in from one address; the budget for
                    # password routes is tested on a gateway that names its own.
                    "PASSWORD_RATE_PER_S": "1000",
                    "PASSWORD_BURST": "1000",
                    **{key.upper(): value for key, value in settings.items()},
                },
                env={
                    "BACKBEAT_ENVIRONMENT": "test",
                    "BACKBEAT_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
                },
                name=name,
                port=port,
            )
        )

    def main_gateway(self) -> ServiceProcess:
        """The gateway on the port the tokens service sends browsers back to after Spotify;
        started once and shared by every test of the session."""
        if self._main_gateway is None:
            self._main_gateway = self.gateway(port=self.gateway_port)
        return self._main_gateway

    def echo_gateway(self) -> ServiceProcess:
        """A gateway whose playback route leads to the echo upstream, for what forwarding
        does to a request; started once and shared."""
        if self._echo_gateway is None:
            self._echo_gateway = self.gateway("gateway-echo", playback_url=self.echo.url)
        return self._echo_gateway

    def start(self, process: ServiceProcess) -> ServiceProcess:
        self.processes.append(process)
        return process.start(timeout_s=60)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def start_stack(database_urls: Mapping[str, str], kafka_bootstrap: str) -> Stack:
    migrate_auth(database_urls["auth"])
    migrate_tokens(database_urls["tokens"])
    gateway_port = free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    callback = f"{gateway_url}/api/spotify/callback"
    processes: list[ServiceProcess] = []
    edge_secret = secrets.token_urlsafe(32)
    users_topic = f"test.auth.users.{uuid.uuid4().hex}"
    revocations_topic = f"test.auth.revocations.{uuid.uuid4().hex}"
    try:
        fake = spotify_fake("--rate-limit", "0").start()
        processes.append(fake)
        spotify_app = httpx.post(
            f"{fake.url}/_control/clients", json={"redirect_uris": [callback]}
        ).json()
        common = {"BACKBEAT_ENVIRONMENT": "test", "BACKBEAT_KAFKA_BOOTSTRAP": kafka_bootstrap}
        auth_port = free_port()
        auth = service_process(
            "auth",
            {
                "DATABASE_URL": database_urls["auth"],
                "ISSUER": f"http://127.0.0.1:{auth_port}",
                "EDGE_SECRET": edge_secret,
                "KEY_ROTATION_INTERVAL_S": "0",
                "USERS_TOPIC": users_topic,
                "REVOCATIONS_TOPIC": revocations_topic,
            },
            env=common,
            port=auth_port,
        )
        processes.append(auth.start(timeout_s=60))
        jwks_url = f"{auth.url}/.well-known/jwks.json"
        tokens = tokens_process(
            database_url=database_urls["tokens"],
            kafka_bootstrap=kafka_bootstrap,
            auth_issuer=auth.url,
            jwks_url=jwks_url,
            spotify_url=fake.url,
            spotify_app=spotify_app,
            redirect_uri=callback,
            connections_topic=f"test.spotify.connections.{uuid.uuid4().hex}",
            users_topic=users_topic,
            revocations_topic=revocations_topic,
            settings={"WEB_UI_URL": f"{gateway_url}/"},
            env=common,
        )
        processes.append(tokens.start(timeout_s=60))
        suffix = uuid.uuid4().hex[:8]
        events_topic = f"gateway-test.playback.events.{suffix}"
        presence_topic = f"gateway-test.playback.presence.{suffix}"
        playback = _playback(
            database_urls,
            auth,
            tokens,
            kafka_bootstrap=kafka_bootstrap,
            suffix=suffix,
            events_topic=events_topic,
            presence_topic=presence_topic,
            revocations_topic=revocations_topic,
        )
        processes.append(playback.start(timeout_s=60))
        echo_port = free_port()
        echo = ServiceProcess(
            "echo-upstream",
            "tests.gateway.echo_upstream",
            echo_port,
            args=["--port", str(echo_port)],
        )
        processes.append(echo.start(timeout_s=60))
    except BaseException:
        for process in reversed(processes):
            process.stop()
        raise
    return Stack(
        fake,
        auth,
        tokens,
        playback,
        echo,
        gateway_port,
        kafka_bootstrap,
        processes,
        edge_secret,
        users_topic=users_topic,
        revocations_topic=revocations_topic,
        events_topic=events_topic,
        presence_topic=presence_topic,
    )


async def _register(auth_database_url: str, client_id: str) -> str:
    db = Database(auth_database_url)
    try:
        return await register_client(db, client_id, {"tokens"}, {"tokens:read"})
    finally:
        await db.dispose()


def _playback(
    database_urls: Mapping[str, str],
    auth: ServiceProcess,
    tokens: ServiceProcess,
    *,
    kafka_bootstrap: str,
    suffix: str,
    events_topic: str,
    presence_topic: str,
    revocations_topic: str,
) -> ServiceProcess:
    """The real playback service on its test database: its API and live streams (which
    follow ``events_topic``), without applying events to history (the end-to-end tests do)."""
    migrate_playback(database_urls["playback"])
    port = free_port()
    # Playback's own client at auth: it asks tokens for the user's Spotify token with it.
    client_id = f"playback-{suffix}"
    client_secret = asyncio.run(_register(database_urls["auth"], client_id))
    return ServiceProcess(
        "playback",
        "backbeat.playback",
        port,
        env={
            "BACKBEAT_ENVIRONMENT": "test",
            "BACKBEAT_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "BACKBEAT_PLAYBACK_PORT": str(port),
            "BACKBEAT_PLAYBACK_DATABASE_URL": database_urls["playback"],
            "BACKBEAT_PLAYBACK_CONSUME": "false",
            "BACKBEAT_PLAYBACK_EVENTS_TOPIC": events_topic,
            "BACKBEAT_PLAYBACK_PRESENCE_TOPIC": presence_topic,
            "BACKBEAT_PLAYBACK_DEAD_LETTER_TOPIC": f"gateway-test.playback.dlq.{suffix}",
            "BACKBEAT_PLAYBACK_USERS_TOPIC": f"gateway-test.auth.users.{suffix}",
            "BACKBEAT_PLAYBACK_REVOCATIONS_TOPIC": revocations_topic,
            "BACKBEAT_PLAYBACK_AUTH_ISSUER": auth.url,
            "BACKBEAT_PLAYBACK_AUTH_JWKS_URL": f"{auth.url}/.well-known/jwks.json",
            "BACKBEAT_PLAYBACK_AUTH_TOKEN_URL": f"{auth.url}/oauth/token",
            "BACKBEAT_PLAYBACK_CLIENT_ID": client_id,
            "BACKBEAT_PLAYBACK_CLIENT_SECRET": client_secret,
            "BACKBEAT_PLAYBACK_TOKENS_URL": tokens.url,
        },
    )


def new_email() -> str:
    return f"listener-{uuid.uuid4().hex[:12]}@example.com"


def sign_up(
    base_url: str, email: str | None = None, *, http: httpx.Client | None = None
) -> Account:
    """A new account signed in through ``base_url`` (a gateway); ``http`` is reused if given."""
    email = email or new_email()
    with _client(http) as client:
        created = client.post(
            f"{base_url}/api/auth/signup", json={"email": email, "password": PASSWORD}
        )
        assert created.status_code == 201, created.text
        tokens = client.post(
            f"{base_url}/api/auth/login", json={"email": email, "password": PASSWORD}
        )
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    return Account(email, created.json()["user_id"], body["access_token"], body["refresh_token"])


def connect_spotify(
    base_url: str, fake_url: str, account: Account, *, http: httpx.Client | None = None
) -> str:
    """Runs the connect flow through the gateway as a browser would; the fake's user id."""
    with _client(http) as client:
        spotify_user = client.post(f"{fake_url}/_control/users", json={}).json()["id"]
        started = client.post(f"{base_url}/api/spotify/connect", headers=account.headers)
        assert started.status_code == 200, started.text
        authorize = urlsplit(started.json()["authorize_url"])
        consent = client.get(f"{fake_url}/authorize?{authorize.query}&fake_user={spotify_user}")
        assert consent.status_code in (302, 303), consent.text
        back = urlsplit(consent.headers["location"])
        assert back.path == "/api/spotify/callback"
        callback = client.get(f"{base_url}{back.path}?{back.query}")
    assert callback.status_code == 302, callback.text
    assert parse_qs(urlsplit(callback.headers["location"]).query)["spotify"] == ["connected"]
    return str(spotify_user)


@contextmanager
def _client(http: httpx.Client | None) -> Iterator[httpx.Client]:
    """The caller's client, or a new one for this call (closed after it)."""
    if http is not None:
        yield http
        return
    with httpx.Client(timeout=30) as client:
        yield client
