"""Now playing per user, applied event ids, plays, erased users.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "user_playback",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.Column("track", postgresql.JSONB(), nullable=True),
        sa.Column("is_playing", sa.Boolean(), nullable=False),
        sa.Column("progress_ms", sa.Integer(), nullable=True),
        sa.Column("device", postgresql.JSONB(), nullable=True),
        sa.Column("context", postgresql.JSONB(), nullable=True),
        sa.Column("observed_at", TZ, nullable=True),
        sa.Column("play_started_at", TZ, nullable=True),
        sa.Column("play_listened_ms", sa.BigInteger(), nullable=True),
        sa.Column("segment_started_at", TZ, nullable=True),
        sa.Column("segment_start_progress_ms", sa.Integer(), nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_user_playback"),
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("processed_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_processed_events"),
    )
    op.create_index("ix_processed_events_user_id", "processed_events", ["user_id"])
    op.create_table(
        "plays",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("track_id", sa.Text(), nullable=False),
        sa.Column("track_uri", sa.Text(), nullable=False),
        sa.Column("track_name", sa.Text(), nullable=False),
        sa.Column("artists", postgresql.JSONB(), nullable=False),
        sa.Column("album_id", sa.Text(), nullable=True),
        sa.Column("album_name", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("listened_ms", sa.BigInteger(), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("ended_at", TZ, nullable=False),
        sa.Column("context_uri", sa.Text(), nullable=True),
        sa.Column("device_name", sa.Text(), nullable=True),
        sa.Column("end_sequence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plays"),
        sa.UniqueConstraint(
            "user_id", "end_sequence", "track_id", name="uq_plays_user_id_end_sequence_track_id"
        ),
    )
    op.create_index("ix_plays_user_id_started_at_id", "plays", ["user_id", "started_at", "id"])
    op.create_table(
        "erased_users",
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("erased_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_erased_users"),
    )


def downgrade() -> None:
    op.drop_table("erased_users")
    op.drop_index("ix_plays_user_id_started_at_id", table_name="plays")
    op.drop_table("plays")
    op.drop_index("ix_processed_events_user_id", table_name="processed_events")
    op.drop_table("processed_events")
    op.drop_table("user_playback")
