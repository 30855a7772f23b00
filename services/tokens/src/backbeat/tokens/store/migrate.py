"""Brings the tokens database to the newest schema: ``python -m backbeat.tokens.store.migrate``.

Reads ``BACKBEAT_TOKENS_DATABASE_URL``; safe to run again and from several processes at once.
"""

from __future__ import annotations

import sys
from pathlib import Path

from backbeat.runtime.migrations import upgrade
from backbeat.tokens.settings import TokensSettings

MIGRATIONS = Path(__file__).with_name("migrations")


def main() -> None:
    revision = sys.argv[1] if len(sys.argv) > 1 else "head"
    upgrade(MIGRATIONS, TokensSettings().database_url, revision)
    print(f"tokens database migrated to {revision}")


if __name__ == "__main__":
    main()
