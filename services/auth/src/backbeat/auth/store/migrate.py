"""Brings auth's database to the newest schema: ``python -m backbeat.auth.store.migrate``.

Reads ``BACKBEAT_AUTH_DATABASE_URL`` through the settings; safe to run again and from
several processes at once.
"""

from __future__ import annotations

from pathlib import Path

from backbeat.auth.settings import AuthSettings
from backbeat.runtime.migrations import ServiceMigrations

MIGRATIONS = ServiceMigrations(
    "auth", Path(__file__).with_name("migrations"), lambda: AuthSettings().database_url
)
upgrade = MIGRATIONS.upgrade

if __name__ == "__main__":
    MIGRATIONS.command_line()
