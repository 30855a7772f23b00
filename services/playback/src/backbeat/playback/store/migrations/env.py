"""Alembic environment of the playback database."""

from backbeat.playback.store.tables import metadata
from backbeat.runtime.migrations import run_env

run_env(metadata, "playback")
