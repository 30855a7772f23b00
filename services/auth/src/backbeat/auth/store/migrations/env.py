"""Alembic environment of the auth database."""

from backbeat.auth.store.tables import metadata
from backbeat.runtime.migrations import run_env

run_env(metadata, "auth")
