"""The real playback service in front of the gateway test stack (instead of the stand-in),
for the tests that need its own validation: the public API schema and hostile input."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping

from backbeat.auth.clients import register_client
from backbeat.playback.store.migrate import upgrade as migrate_playback
from backbeat.runtime.database import Database
from backbeat.runtime.testing import ServiceProcess, free_port
from tests.gateway.stack import Stack


async def _register(auth_database_url: str, client_id: str) -> str:
    db = Database(auth_database_url)
    try:
        return await register_client(db, client_id, {"tokens"}, {"tokens:read"})
    finally:
        await db.dispose()


def start_playback(stack: Stack, database_urls: Mapping[str, str]) -> ServiceProcess:
    """Playback on its test database, serving the API without consuming events; stopped
    with the stack."""
    migrate_playback(database_urls["playback"])
    port = free_port()
    suffix = uuid.uuid4().hex[:8]
    # Playback's own client at auth: it asks tokens for the user's Spotify token with it.
    client_id = f"playback-{suffix}"
    client_secret = asyncio.run(_register(database_urls["auth"], client_id))
    return stack.start(
        ServiceProcess(
            "playback",
            "backbeat.playback",
            port,
            env={
                "BACKBEAT_ENVIRONMENT": "test",
                "BACKBEAT_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
                "BACKBEAT_PLAYBACK_PORT": str(port),
                "BACKBEAT_PLAYBACK_DATABASE_URL": database_urls["playback"],
                "BACKBEAT_PLAYBACK_CONSUME": "false",
                "BACKBEAT_PLAYBACK_EVENTS_TOPIC": f"gateway-test.playback.events.{suffix}",
                "BACKBEAT_PLAYBACK_DEAD_LETTER_TOPIC": f"gateway-test.playback.dlq.{suffix}",
                "BACKBEAT_PLAYBACK_USERS_TOPIC": f"gateway-test.auth.users.{suffix}",
                "BACKBEAT_PLAYBACK_REVOCATIONS_TOPIC": stack.revocations_topic,
                "BACKBEAT_PLAYBACK_AUTH_ISSUER": stack.issuer,
                "BACKBEAT_PLAYBACK_AUTH_JWKS_URL": stack.jwks_url,
                "BACKBEAT_PLAYBACK_AUTH_TOKEN_URL": f"{stack.auth.url}/oauth/token",
                "BACKBEAT_PLAYBACK_CLIENT_ID": client_id,
                "BACKBEAT_PLAYBACK_CLIENT_SECRET": client_secret,
                "BACKBEAT_PLAYBACK_TOKENS_URL": stack.tokens.url,
            },
        )
    )
