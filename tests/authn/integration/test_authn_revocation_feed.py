"""The revocation feed against the real Kafka: what was revoked before a verifier started is
known when it starts, and a new revocation reaches it within two seconds."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from backbeat.authn import RevocationFeed, RevocationList
from backbeat.authn.revocation_feed import revocations_topic_spec
from backbeat.events.cloudevents import to_kafka
from backbeat.events.revocations import RevocationReason, SessionRevoked, session_revoked_event
from backbeat.runtime.kafka import create_producer, ensure_topics

pytestmark = pytest.mark.integration


async def publish(
    bootstrap: str, topic: str, records: list[tuple[bytes, bytes | None, list[tuple[str, bytes]]]]
) -> None:
    producer = create_producer(bootstrap, client_id="test-revocations")
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


def revoked(
    user: uuid.UUID, session: uuid.UUID | None, at: datetime
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    return to_kafka(
        session_revoked_event(
            SessionRevoked(
                user_id=str(user),
                session_id=None if session is None else str(session),
                reason=RevocationReason.SIGN_OUT,
                revoked_at=at,
                expires_at=at + timedelta(minutes=10),
            )
        )
    )


async def test_a_verifier_starts_knowing_earlier_revocations_and_learns_new_ones_at_once(
    kafka_bootstrap: str, unique: str
) -> None:
    spec = revocations_topic_spec(
        f"test.auth.revocations.{unique}", max_token_lifetime_s=900, partitions=3
    )
    await ensure_topics(kafka_bootstrap, [spec])
    now = datetime.now(UTC)
    earlier_user, earlier_session = uuid.uuid4(), uuid.uuid4()
    deleted_user = uuid.uuid4()
    stale_user, stale_session = uuid.uuid4(), uuid.uuid4()
    await publish(
        kafka_bootstrap,
        spec.name,
        [
            revoked(earlier_user, earlier_session, now),
            revoked(deleted_user, None, now),
            # Older than any token can live: no need to remember it.
            revoked(stale_user, stale_session, now - timedelta(hours=2)),
            # Not an event at all: passed over, the feed keeps going.
            (b"garbage", b"{", [("ce_type", b"dev.backbeat.auth.session_revoked.v1")]),
        ],
    )
    revocations = RevocationList(retain_s=960)
    feed = RevocationFeed(kafka_bootstrap, spec, revocations, client_id="test-revocations")
    await feed.start(wait_s=30)
    try:
        feed.check_current()  # ready
        assert revocations.is_revoked(earlier_user, earlier_session)
        assert revocations.is_revoked(deleted_user, uuid.uuid4())
        assert not revocations.is_revoked(stale_user, stale_session)

        user, session = uuid.uuid4(), uuid.uuid4()
        assert not revocations.is_revoked(user, session)
        started = time.monotonic()
        await publish(kafka_bootstrap, spec.name, [revoked(user, session, datetime.now(UTC))])
        while not revocations.is_revoked(user, session):
            assert time.monotonic() - started < 2.0, "the revocation did not arrive within 2 s"
            await asyncio.sleep(0.01)
    finally:
        await feed.stop()
