"""Storing a new Spotify connection and removing one; each change is published through the
outbox in the same transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert

from backbeat.events import topics
from backbeat.events.connections import ConnectionState, ConnectionStatus, connection_event
from backbeat.runtime.database import Database
from backbeat.runtime.outbox import enqueue
from backbeat.spotify.models import TokenGrant
from backbeat.tokens.domain.vault import CredentialField, KeyRing, seal
from backbeat.tokens.service.erasure import refuse_erased
from backbeat.tokens.store.tables import credentials, outbox


class MissingRefreshToken(ValueError):
    """A code exchange must return a refresh token; without one there is nothing to keep."""


async def store_connection(
    database: Database,
    keys: KeyRing,
    *,
    user_id: str,
    spotify_user_id: str | None,
    spotify_client_id: str,
    grant: TokenGrant,
    now: datetime,
    topic: str = topics.SPOTIFY_CONNECTIONS,
) -> ConnectionState:
    """Save (or replace) the user's credentials and publish ``connected``; ``AccountErased``
    when the user's account was deleted (nothing is stored then)."""
    if grant.refresh_token is None:
        raise MissingRefreshToken("Spotify returned no refresh token for the authorization code")
    access = seal(
        keys, user_id, CredentialField.ACCESS_TOKEN, grant.access_token.get_secret_value()
    )
    refresh = seal(
        keys, user_id, CredentialField.REFRESH_TOKEN, grant.refresh_token.get_secret_value()
    )
    values = {
        "spotify_user_id": spotify_user_id,
        "spotify_client_id": spotify_client_id,
        "scopes": sorted(grant.scopes),
        "key_id": keys.active,
        "access_token": access.blob,
        "refresh_token": refresh.blob,
        "expires_at": grant.expires_at(now),
        "status": ConnectionStatus.CONNECTED.value,
        "status_since": now,
        "refresh_owner": None,
        "refresh_lease_until": None,
        "cooldown_until": None,
        "consecutive_failures": 0,
        "updated_at": now,
    }
    state = ConnectionState(
        user_id=user_id,
        status=ConnectionStatus.CONNECTED,
        scopes=sorted(grant.scopes),
        spotify_client_id=spotify_client_id,
        since=now,
    )
    async with database.session() as session:
        await refuse_erased(session, user_id)
        await session.execute(
            insert(credentials)
            .values(user_id=user_id, **values)
            .on_conflict_do_update(index_elements=[credentials.c.user_id], set_=values)
        )
        await enqueue(session, outbox, topic, connection_event(state), user_id)
    return state


async def remove_connection(
    database: Database, user_id: str, *, now: datetime, topic: str = topics.SPOTIFY_CONNECTIONS
) -> bool:
    """Delete the user's credentials and publish ``disconnected``; False if there were none."""
    async with database.session() as session:
        result = await session.execute(delete(credentials).where(credentials.c.user_id == user_id))
        if not getattr(result, "rowcount", 0):
            return False
        state = ConnectionState(
            user_id=user_id, status=ConnectionStatus.DISCONNECTED, scopes=[], since=now
        )
        await enqueue(session, outbox, topic, connection_event(state), user_id)
    return True
