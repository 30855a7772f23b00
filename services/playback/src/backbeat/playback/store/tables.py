"""The playback database's tables (the migrations under ``migrations/`` create them)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TZ = DateTime(timezone=True)

# One row per user: now playing, the play in progress, and the last applied sequence. The
# row is locked while a batch applies the user's events, so two consumers that briefly own
# the same partition during a rebalance take turns instead of both applying.
user_playback = Table(
    "user_playback",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("last_sequence", BigInteger, nullable=False),
    Column("track", JSONB, nullable=True),
    Column("is_playing", Boolean, nullable=False),
    Column("progress_ms", Integer, nullable=True),
    Column("device", JSONB, nullable=True),
    Column("context", JSONB, nullable=True),
    Column("observed_at", TZ, nullable=True),
    # The open play of the current track: started, audio heard, running segment.
    Column("play_started_at", TZ, nullable=True),
    Column("play_listened_ms", BigInteger, nullable=True),
    Column("segment_started_at", TZ, nullable=True),
    Column("segment_start_progress_ms", Integer, nullable=True),
    Column("updated_at", TZ, nullable=False),
    # Every batch rewrites its users' rows: the free half of each page keeps the new version
    # beside the old one, so the primary key is left alone (migration 0003).
    postgresql_with={"fillfactor": 50},
)

# Ids of applied events. The per-user sequence already rejects replays; the id catches a
# redelivered event even if its user's row was recreated, and is the contract's dedup key.
# Ids older than the events topic's retention are pruned (store/retention.py).
processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("processed_at", TZ, nullable=False),
    Index(None, "user_id"),
    Index(None, "processed_at"),  # pruning ids past the topic's retention
)

plays = Table(
    "plays",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("track_id", Text, nullable=False),
    Column("track_uri", Text, nullable=False),
    Column("track_name", Text, nullable=False),
    # [{"id", "name"}, ...] in Spotify's order.
    Column("artists", JSONB, nullable=False),
    Column("album_id", Text, nullable=True),
    Column("album_name", Text, nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Column("listened_ms", BigInteger, nullable=False),
    Column("started_at", TZ, nullable=False),
    Column("ended_at", TZ, nullable=False),
    Column("context_uri", Text, nullable=True),
    Column("device_name", Text, nullable=True),
    Column("end_sequence", BigInteger, nullable=False),
    # A play's identity: the event that ended it and its track (one event can end two plays
    # only for two different tracks). Writing the same play twice is then a no-op.
    UniqueConstraint("user_id", "end_sequence", "track_id"),
    Index("ix_plays_user_id_started_at_id", "user_id", "started_at", "id"),
)

# Users whose data was erased. Events of theirs still in flight (the watcher may publish a
# few after the deletion) are dropped instead of bringing the user's rows back.
erased_users = Table(
    "erased_users",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("erased_at", TZ, nullable=False),
)
