"""Alembic environment of the tokens database."""

from backbeat.runtime.migrations import run_env
from backbeat.tokens.store.tables import metadata

run_env(metadata, "tokens")
