"""Brings auth's database to the newest schema: ``python -m backbeat.auth.store.migrate``.

Reads the URL from ``BACKBEAT_AUTH_DATABASE_URL`` (through the settings). Safe to run again
and from several processes at once: applied migrations are skipped, runners take turns.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(database_url: str) -> Config:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser treats % as interpolation; a password may contain one.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``. Blocking: call it off the event loop."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def main() -> None:
    from backbeat.auth.settings import AuthSettings

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("revision", nargs="?", default="head")
    args = parser.parse_args()
    upgrade(AuthSettings().database_url, args.revision)
    print(f"auth database migrated to {args.revision}")


if __name__ == "__main__":
    main()
