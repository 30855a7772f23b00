"""Brings tokens's database to the newest schema: ``python -m backbeat.tokens.store.migrate``.

Reads ``BACKBEAT_TOKENS_DATABASE_URL`` through the settings; safe to run again and from
several processes at once.
"""

from __future__ import annotations

from pathlib import Path

from backbeat.runtime.migrations import ServiceMigrations
from backbeat.tokens.settings import TokensSettings

MIGRATIONS = ServiceMigrations(
    "tokens", Path(__file__).with_name("migrations"), lambda: TokensSettings().database_url
)
upgrade = MIGRATIONS.upgrade

if __name__ == "__main__":
    MIGRATIONS.command_line()
