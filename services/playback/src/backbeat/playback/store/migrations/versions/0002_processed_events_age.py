"""An index on when each event id was applied, for pruning ids past the topic's retention.

Revision ID: 0002_processed_events_age
Revises: 0001_initial
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_processed_events_age"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_processed_events_processed_at", "processed_events", ["processed_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_processed_events_processed_at", table_name="processed_events")
