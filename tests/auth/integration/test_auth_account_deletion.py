"""Deleting an account tells every service through auth.users, via the outbox."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import select

from backbeat.auth.store.tables import outbox
from backbeat.events.cloudevents import from_kafka
from backbeat.events.users import USER_DELETED_EVENT_TYPE, UserDeleted
from backbeat.runtime.kafka import TopicSpec, ensure_topics

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


async def test_deleting_an_account_publishes_user_deleted_once_through_the_outbox(
    start_app: Any, kafka_bootstrap: str
) -> None:
    topic = f"test.auth.users.{uuid.uuid4().hex}"
    await ensure_topics(kafka_bootstrap, [TopicSpec(topic)])
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"auth-test-{uuid.uuid4().hex}",
        auto_offset_reset="latest",
    )
    await consumer.start()
    try:
        # Join the group and fix the start offsets before the event exists.
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=200)
        for partition in consumer.assignment():
            await consumer.position(partition)
        auth = await start_app(
            outbox_relay_enabled=True, kafka_bootstrap=kafka_bootstrap, users_topic=topic
        )
        await auth.http.post(
            "/api/auth/signup", json={"email": "ada@example.com", "password": PASSWORD}
        )
        tokens = (
            await auth.http.post(
                "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
            )
        ).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        user_id = (await auth.http.get("/api/auth/me", headers=headers)).json()["user_id"]

        deleted = await auth.http.delete("/api/auth/me", headers=headers)

        record = await asyncio.wait_for(consumer.getone(), timeout=30)
        event = from_kafka(record.key, record.value, record.headers, UserDeleted)
        # The relay marks its batch (the deletion and the session revocation) sent once the
        # broker has acknowledged all of it, which can be just after the record is readable.
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            async with auth.app.state.db.session() as session:
                unpublished = (
                    await session.execute(
                        select(outbox.c.id).where(outbox.c.published_at.is_(None))
                    )
                ).all()
            if not unpublished or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
    finally:
        await consumer.stop()

    assert deleted.status_code == 204
    assert record.key == user_id.encode()
    assert event.type == USER_DELETED_EVENT_TYPE
    assert event.data.user_id == user_id
    assert PASSWORD.encode() not in (record.value or b"")
    assert unpublished == []
