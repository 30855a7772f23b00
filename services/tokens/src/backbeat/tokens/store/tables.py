"""Tables of the tokens database. Only this service's role can connect to it."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from backbeat.runtime.outbox import outbox_table

metadata = MetaData()

credentials = Table(
    "spotify_credentials",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("spotify_user_id", String(255), nullable=True),
    Column("spotify_client_id", String(255), nullable=False),
    Column("scopes", ARRAY(Text), nullable=False),
    # Both tokens are sealed under the same key; a rotation reseals them together.
    Column("key_id", String(32), nullable=False),
    Column("access_token", LargeBinary, nullable=False),
    Column("refresh_token", LargeBinary, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("status", String(32), nullable=False),
    Column("status_since", DateTime(timezone=True), nullable=False),
    # The refresh lease: one refresh in flight per user across every instance. A holder
    # that dies leaves the old credentials in place; the lease expires and is taken over.
    Column("refresh_owner", String(64), nullable=True),
    Column("refresh_lease_until", DateTime(timezone=True), nullable=True),
    # After transient failures have used up their budget, no refresh before this time.
    Column("cooldown_until", DateTime(timezone=True), nullable=True),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("version", BigInteger, nullable=False, server_default="1"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_spotify_credentials_key_id", "key_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("outcome", String(64), nullable=False),
    Index("ix_audit_log_user_id_at", "user_id", "at"),
)

# A connect flow in progress: the state is single-use and bound to the user who started it;
# only its hash is stored, and the PKCE verifier is sealed like a token.
connect_states = Table(
    "connect_states",
    metadata,
    Column("state_hash", LargeBinary, primary_key=True),
    Column("user_id", String(64), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("code_verifier", LargeBinary, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# Users whose account was deleted (from auth's user.deleted): nothing of theirs may be stored
# again, whatever still-valid token or half-finished connect flow turns up later. Only the
# id and when; kept for good, since a user id is never reused.
erased_users = Table(
    "erased_users",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("erased_at", DateTime(timezone=True), nullable=False),
)

outbox = outbox_table(metadata)
