"""Alembic migrations of the playback database."""
