"""Running instances of the tokens service against the Spotify fake process: one refresh per
user across instances, and a refresh killed mid-flight loses nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr
from sqlalchemy import select, text

from backbeat.authn.testing import TokenForge
from backbeat.runtime.database import Database
from backbeat.runtime.testing import ServiceProcess, StaticJson, spotify_fake
from backbeat.spotify.models import TokenGrant
from backbeat.tokens.domain.vault import CredentialField, KeyRing, SealedSecret, open_sealed
from backbeat.tokens.service.connections import store_connection
from backbeat.tokens.settings import TokensSettings
from backbeat.tokens.store.tables import credentials
from backbeat.tokens.testing import connect_in_a_browser, tokens_process

pytestmark = pytest.mark.integration

ISSUER = "http://auth.test"
REDIRECT = "http://127.0.0.1:8000/api/spotify/callback"
FORGE = TokenForge(issuer=ISSUER, user_audience="backbeat", service_audience="tokens")


def service() -> dict[str, str]:
    """The watcher's credentials, minted when asked: a forged token lives ten minutes, less
    than a whole test run."""
    return {"Authorization": f"Bearer {FORGE.service_token('watcher', 'tokens:read')}"}


@dataclass
class Deployment:
    fake: ServiceProcess
    instances: list[ServiceProcess]
    spotify_app: dict[str, str]
    database_url: str
    kafka_bootstrap: str
    jwks_url: str
    connections_topic: str

    @property
    def client_id(self) -> str:
        return self.spotify_app["client_id"]

    def start_instance(self, ready_path: str = "/health/ready") -> ServiceProcess:
        instance = tokens_process(
            database_url=self.database_url,
            kafka_bootstrap=self.kafka_bootstrap,
            auth_issuer=ISSUER,
            jwks_url=self.jwks_url,
            spotify_url=self.fake.url,
            spotify_app=self.spotify_app,
            redirect_uri=REDIRECT,
            connections_topic=self.connections_topic,
            name=f"tokens-{len(self.instances)}",
            settings={"REFRESH_LEASE_S": "3"},
            ready_path=ready_path,
        )
        self.instances.append(instance)
        return instance.start()

    def connect(self, instance: ServiceProcess, user_id: str) -> None:
        spotify_user = httpx.post(f"{self.fake.url}/_control/users", json={}).json()["id"]
        user = {"Authorization": f"Bearer {FORGE.user_token(sub=user_id)}"}
        callback = connect_in_a_browser(instance.url, self.fake.url, user, spotify_user)
        assert callback.headers["location"].endswith("?spotify=connected"), callback.headers

    def token_calls(self) -> int:
        stats = httpx.get(f"{self.fake.url}/_control/stats").json()
        return int(stats["token_calls_by_client"].get(self.client_id, 0))


@pytest.fixture
def deployment(tokens_db: Database, tokens_url: str, kafka_bootstrap: str) -> Iterator[Deployment]:
    fake = spotify_fake("--rate-limit", "0").start()
    app = httpx.post(f"{fake.url}/_control/clients", json={"redirect_uris": [REDIRECT]}).json()
    with StaticJson(FORGE.jwks()) as jwks:
        deployment = Deployment(
            fake=fake,
            instances=[],
            spotify_app=app,
            database_url=tokens_url,
            kafka_bootstrap=kafka_bootstrap,
            jwks_url=jwks.url,
            connections_topic=f"test.spotify.connections.{uuid.uuid4().hex}",
        )
        try:
            yield deployment
        finally:
            for instance in deployment.instances:
                instance.stop()
            fake.stop()


async def expire_all(db: Database) -> None:
    async with db.session() as session:
        await session.execute(text("UPDATE spotify_credentials SET expires_at = now()"))


async def test_200_callers_over_two_instances_cause_exactly_20_refreshes_at_spotify(
    deployment: Deployment, tokens_db: Database
) -> None:
    first, second = deployment.start_instance(), deployment.start_instance()
    users = [str(uuid.uuid4()) for _ in range(20)]
    for user in users:
        deployment.connect(first, user)
    await expire_all(tokens_db)
    before = deployment.token_calls()

    watcher = service()
    async with httpx.AsyncClient(timeout=30) as http:
        responses = await asyncio.gather(
            *(
                http.get(
                    f"{(first, second)[(n // 20) % 2].url}/internal/v1/users/"
                    f"{users[n % 20]}/spotify/access-token",
                    headers=watcher,
                )
                for n in range(200)
            )
        )
        assert [r.status_code for r in responses] == [200] * 200
        assert deployment.token_calls() - before == 20
        # Every caller got a token Spotify accepts.
        for token in {r.json()["access_token"] for r in responses}:
            me = await http.get(
                f"{deployment.fake.url}/v1/me", headers={"Authorization": f"Bearer {token}"}
            )
            assert me.status_code == 200


async def test_an_instance_killed_mid_refresh_leaves_usable_credentials_and_its_lease_is_taken_over(
    deployment: Deployment, tokens_db: Database
) -> None:
    doomed, survivor = deployment.start_instance(), deployment.start_instance()
    user = str(uuid.uuid4())
    deployment.connect(doomed, user)
    await expire_all(tokens_db)
    # Spotify's token endpoint hangs, so the refresh is in flight when the process dies.
    url = f"/internal/v1/users/{user}/spotify/access-token"
    async with httpx.AsyncClient(timeout=30) as http:
        (
            await http.post(
                f"{deployment.fake.url}/_control/faults",
                json={"endpoint": "token", "kind": "latency", "latency_ms": 20_000},
            )
        ).raise_for_status()
        pending = asyncio.create_task(http.get(doomed.url + url, headers=service()))
        for _ in range(100):
            async with tokens_db.session() as session:
                owner = await session.scalar(select(credentials.c.refresh_owner))
            if owner or pending.done():
                break
            await asyncio.sleep(0.05)
        assert not pending.done(), f"answered without refreshing: {pending.result().text}"
        assert owner, "the refresh never started"
        doomed.kill()
        with pytest.raises(httpx.HTTPError):
            await pending

        async with tokens_db.session() as session:
            row = (await session.execute(select(credentials))).one()
        keys = KeyRing.parse(TokensSettings().encryption_keys.get_secret_value())
        refresh = open_sealed(
            keys,
            user,
            CredentialField.REFRESH_TOKEN,
            SealedSecret(row.key_id, bytes(row.refresh_token)),
        )
        assert refresh and row.status == "connected"  # the old credentials, intact

        (await http.delete(f"{deployment.fake.url}/_control/faults")).raise_for_status()
        started = time.monotonic()
        taken_over = await http.get(survivor.url + url, headers=service())
        assert taken_over.status_code == 200, taken_over.text
        assert time.monotonic() - started < 10  # the lease is 3 s
        me = await http.get(
            f"{deployment.fake.url}/v1/me",
            headers={"Authorization": f"Bearer {taken_over.json()['access_token']}"},
        )
        assert me.status_code == 200


async def test_a_connection_event_committed_while_kafka_is_away_is_published_after_a_crash(
    deployment: Deployment, kafka_bootstrap: str
) -> None:
    # An instance cut off from Kafka committed the row and its event together, then died
    # before its relay could publish anything. (Through its API: such an instance cannot
    # read the session revocations, so it refuses user tokens with 503; the connection is
    # committed here the way its connect flow commits it.)
    user = str(uuid.uuid4())
    database = Database(deployment.database_url)
    try:
        await store_connection(
            database,
            KeyRing.parse(TokensSettings().encryption_keys.get_secret_value()),
            user_id=user,
            spotify_user_id="spotify-user",
            spotify_client_id=deployment.client_id,
            grant=TokenGrant(
                access_token=SecretStr("access"),
                token_type="Bearer",
                expires_in=3600,
                refresh_token=SecretStr("refresh"),
            ),
            now=datetime.now(UTC),
            topic=deployment.connections_topic,
        )
    finally:
        await database.dispose()

    deployment.start_instance()
    consumer = AIOKafkaConsumer(
        deployment.connections_topic,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[bytes] = []
    try:
        deadline = time.monotonic() + 30
        while not found and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [r.value for r in records if r.key == user.encode() and r.value]
    finally:
        await consumer.stop()
    assert len(found) == 1
    assert b'"status":"connected"' in found[0]
