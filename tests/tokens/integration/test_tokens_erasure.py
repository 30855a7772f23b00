"""A deleted account at tokens: its Spotify credentials, connect flows and audit trail are
erased when auth's user.deleted arrives, the watcher is told to stop (a tombstone on the
connections topic), and the account's still-valid token can store nothing again."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from backbeat.events.cloudevents import to_kafka
from backbeat.events.users import UserDeleted, user_deleted_event
from backbeat.runtime.database import Database
from backbeat.runtime.kafka import create_producer
from backbeat.runtime.testing import values_of_key
from backbeat.spotify.models import TokenGrant
from backbeat.tokens.domain.vault import KeyRing
from backbeat.tokens.service.connections import store_connection
from backbeat.tokens.service.erasure import AccountErased, erase_user
from backbeat.tokens.settings import TokensSettings
from backbeat.tokens.store.tables import audit_log, connect_states, credentials
from tests.tokens.integration.test_tokens_api import (
    FORGE,
    WEB_UI,
    bearer,
    running_stack,
    service_token,
)

pytestmark = pytest.mark.integration


async def publish_user_deleted(bootstrap: str, topic: str, user_id: str) -> None:
    """What auth's outbox publishes when the account is deleted."""
    key, value, headers = to_kafka(
        user_deleted_event(UserDeleted(user_id=user_id, deleted_at=datetime.now(UTC)))
    )
    producer = create_producer(bootstrap, client_id="test-auth-users")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def rows_of(database: Database, user_id: str) -> dict[str, int]:
    async with database.session() as session:
        return {
            table.name: (
                await session.execute(
                    select(func.count()).select_from(table).where(table.c.user_id == user_id)
                )
            ).scalar_one()
            for table in (credentials, audit_log, connect_states)
        }


async def test_a_deleted_account_is_erased_and_its_valid_token_cannot_connect_spotify_again(
    tokens_db: Database, tokens_url: str, kafka_bootstrap: str, unique: str
) -> None:
    users_topic = f"test.auth.users.{unique}"
    connections_topic = f"test.spotify.connections.{unique}"
    async with running_stack(
        tokens_url, kafka_bootstrap, users_topic=users_topic, connections_topic=connections_topic
    ) as stack:
        user_id, bystander = str(uuid.uuid4()), str(uuid.uuid4())
        token = FORGE.user_token(sub=user_id)  # stays valid: auth's revocation is not here
        for who in (user_id, bystander):
            connected = await stack.connect(
                FORGE.user_token(sub=who), await stack.new_spotify_user()
            )
            assert connected.headers["location"] == f"{WEB_UI}?spotify=connected"
            handed = await stack.tokens.get(
                f"/internal/v1/users/{who}/spotify/access-token", headers=bearer(service_token())
            )
            assert handed.status_code == 200, handed.text
        # A flow the user starts before the deletion and comes back from after it.
        pending = await stack.consent(await stack.start(token), await stack.new_spotify_user())
        before = await rows_of(tokens_db, user_id)
        assert before == {"spotify_credentials": 1, "audit_log": 1, "connect_states": 1}

        await publish_user_deleted(kafka_bootstrap, users_topic, user_id)
        started = time.monotonic()
        while await rows_of(tokens_db, user_id) != dict.fromkeys(before, 0):
            assert time.monotonic() - started < 10, "the account was not erased within 10 s"
            await asyncio.sleep(0.05)

        status = await stack.tokens.get("/api/spotify/connection", headers=bearer(token))
        again = await stack.tokens.post("/api/spotify/connect", headers=bearer(token))
        finished = await stack.tokens.get(f"/api/spotify/callback?{pending}")
        handed = await stack.tokens.get(
            f"/internal/v1/users/{user_id}/spotify/access-token", headers=bearer(service_token())
        )
        after = await rows_of(tokens_db, user_id)
        bystander_rows = await rows_of(tokens_db, bystander)

    assert status.json()["status"] == "disconnected"
    assert again.status_code == 403
    assert again.json()["code"] == "account_deleted"
    assert parse_qs(urlsplit(finished.headers["location"]).query)["spotify"] == ["error"]
    assert handed.status_code == 404
    # Nothing of the user was stored again, not even the refused hand-out's audit record.
    assert after == {"spotify_credentials": 0, "audit_log": 0, "connect_states": 0}
    assert bystander_rows["spotify_credentials"] == 1
    assert bystander_rows["audit_log"] == 1
    # The watcher's last word on the user: a tombstone after the connected state.
    records = await values_of_key(kafka_bootstrap, connections_topic, user_id)
    assert records[-1] is None
    assert any(value and b'"status":"connected"' in value for value in records[:-1])


async def test_credentials_are_never_stored_for_an_erased_user(tokens_db: Database) -> None:
    user_id = str(uuid.uuid4())
    await erase_user(tokens_db, user_id, now=datetime.now(UTC), topic="test.unused")

    with pytest.raises(AccountErased):
        await store_connection(
            tokens_db,
            KeyRing.parse(TokensSettings().encryption_keys.get_secret_value()),
            user_id=user_id,
            spotify_user_id="spotify-user",
            spotify_client_id="app",
            grant=TokenGrant(
                access_token=SecretStr("access"),
                token_type="Bearer",
                expires_in=3600,
                refresh_token=SecretStr("refresh"),
            ),
            now=datetime.now(UTC),
        )

    assert (await rows_of(tokens_db, user_id))["spotify_credentials"] == 0
