"""Every way a session ends is published on the revocations topic through auth's outbox, so
that the other services refuse its access tokens at once: sign-out, a reused refresh token,
a password change (every session of the user) and the account's deletion (every session)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from aiokafka import AIOKafkaConsumer

from backbeat.events.cloudevents import from_kafka
from backbeat.events.revocations import SESSION_REVOKED_EVENT_TYPE, SessionRevoked
from backbeat.runtime.kafka import ensure_topics

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


class Revocations:
    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer

    async def next(self) -> tuple[bytes, SessionRevoked, str]:
        record = await asyncio.wait_for(self.consumer.getone(), timeout=10)
        event = from_kafka(record.key, record.value, record.headers, SessionRevoked)
        return record.key, event.data, event.type


@pytest.fixture
async def running(start_app: Any, kafka_bootstrap: str) -> AsyncIterator[tuple[Any, Revocations]]:
    topic = f"test.auth.revocations.{uuid.uuid4().hex}"
    auth = await start_app(
        outbox_relay_enabled=True, kafka_bootstrap=kafka_bootstrap, revocations_topic=topic
    )
    await ensure_topics(kafka_bootstrap, [auth.app.state.settings.revocations_topic_spec()])
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        yield auth, Revocations(consumer)
    finally:
        await consumer.stop()


async def sign_in(auth: Any, email: str, password: str = PASSWORD) -> dict[str, str]:
    response = await auth.http.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    tokens: dict[str, str] = response.json()
    return tokens


def session_of(tokens: dict[str, str]) -> str:
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    return str(claims["sid"])


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def new_user(auth: Any) -> tuple[str, str]:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    created = await auth.http.post("/api/auth/signup", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    return email, str(created.json()["user_id"])


async def test_sign_out_publishes_the_end_of_that_session_only(
    running: tuple[Any, Revocations],
) -> None:
    auth, revocations = running
    email, user_id = await new_user(auth)
    tokens = await sign_in(auth, email)

    out = await auth.http.post("/api/auth/logout", headers=bearer(tokens))
    key, revoked, event_type = await revocations.next()

    assert out.status_code == 204
    assert key == user_id.encode()
    assert event_type == SESSION_REVOKED_EVENT_TYPE
    assert (revoked.user_id, revoked.session_id, revoked.reason) == (
        user_id,
        session_of(tokens),
        "sign_out",
    )
    assert (revoked.expires_at - revoked.revoked_at).total_seconds() == 600


async def test_a_reused_refresh_token_publishes_the_end_of_its_session(
    running: tuple[Any, Revocations],
) -> None:
    auth, revocations = running
    email, _ = await new_user(auth)
    tokens = await sign_in(auth, email)
    body = {"refresh_token": tokens["refresh_token"]}
    assert (await auth.http.post("/api/auth/refresh", json=body)).status_code == 200

    reused = await auth.http.post("/api/auth/refresh", json=body)
    _, revoked, _ = await revocations.next()

    assert reused.status_code == 401
    assert (revoked.session_id, revoked.reason) == (session_of(tokens), "refresh_token_reused")
    assert tokens["refresh_token"] not in revoked.model_dump_json()


async def test_a_password_change_publishes_the_end_of_every_session_of_the_user(
    running: tuple[Any, Revocations],
) -> None:
    auth, revocations = running
    email, user_id = await new_user(auth)
    sessions = [await sign_in(auth, email) for _ in range(3)]

    changed = await auth.http.post(
        "/api/auth/password",
        headers=bearer(sessions[0]),
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
    )
    published = [await revocations.next() for _ in sessions]

    assert changed.status_code == 204, changed.text
    assert {revoked.session_id for _, revoked, _ in published} == {
        session_of(tokens) for tokens in sessions
    }
    assert {revoked.reason for _, revoked, _ in published} == {"password_changed"}
    assert all(revoked.user_id == user_id for _, revoked, _ in published)


async def test_deleting_the_account_publishes_the_end_of_all_its_sessions(
    running: tuple[Any, Revocations],
) -> None:
    auth, revocations = running
    email, user_id = await new_user(auth)
    tokens = await sign_in(auth, email)

    deleted = await auth.http.delete("/api/auth/me", headers=bearer(tokens))
    _, revoked, _ = await revocations.next()

    assert deleted.status_code == 204
    assert (revoked.user_id, revoked.session_id, revoked.reason) == (
        user_id,
        None,
        "account_deleted",
    )
