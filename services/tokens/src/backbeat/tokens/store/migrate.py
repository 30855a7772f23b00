"""Brings tokens's database to the newest schema: ``python -m backbeat.tokens.store.migrate``.

Reads ``BACKBEAT_TOKENS_DATABASE_URL`` through the settings; safe to run again and from
several processes at once.
"""

from __future__ import annotations

from pathlib import Path

from backbeat.runtime import migrations

MIGRATIONS = Path(__file__).with_name("migrations")


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``. Blocking: call it off the event loop."""
    migrations.upgrade(MIGRATIONS, database_url, revision)


def main() -> None:
    from backbeat.tokens.settings import TokensSettings

    migrations.command_line("tokens", MIGRATIONS, lambda: TokensSettings().database_url)


if __name__ == "__main__":
    main()
