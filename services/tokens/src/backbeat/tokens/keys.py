"""Key management commands of the tokens service.

``python -m backbeat.tokens.keys generate``  prints a new key line for the key ring
``python -m backbeat.tokens.keys rotate``    reseals every row under the active key

To rotate: append ``<new id>:<new key>`` to BACKBEAT_TOKENS_ENCRYPTION_KEYS (the last key is
the active one), restart the instances, run ``rotate``; when it reports nothing remaining,
the old key can be removed from the ring.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from backbeat.runtime.database import Database
from backbeat.runtime.logging import configure_logging
from backbeat.tokens.domain.vault import KeyRing
from backbeat.tokens.service.rotation import rotate
from backbeat.tokens.settings import TokensSettings


async def _rotate(settings: TokensSettings, batch_size: int) -> int:
    database = Database(settings.database_url)
    try:
        keys = KeyRing.parse(settings.encryption_keys.get_secret_value())
        progress = await rotate(database, keys, batch_size)
    finally:
        await database.dispose()
    print(f"resealed {progress.resealed} rows under key {keys.active}; {progress.remaining} remain")
    return 0 if progress.remaining == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backbeat.tokens.keys", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("generate", help="print a new key ring entry")
    new.add_argument("--id", required=True, help="the key id, e.g. k2")
    run = commands.add_parser("rotate", help="reseal every row under the active key")
    run.add_argument("--batch-size", type=int, default=200)
    args = parser.parse_args(argv)
    if args.command == "generate":
        print(f"{args.id}:{KeyRing.generate_key()}")
        return 0
    settings = TokensSettings()
    configure_logging("tokens", settings.log_level)
    return asyncio.run(_rotate(settings, args.batch_size))


if __name__ == "__main__":
    sys.exit(main())
