"""Signing-key administration: ``python -m backbeat.auth.keys rotate|list|prune``.

``rotate`` adds a key that signs from now (or after ``--activate-in`` seconds, published
meanwhile) and deletes keys whose tokens have all expired; running instances pick the new key
up on their next reload. The old key keeps verifying until its tokens have expired.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta

from backbeat.auth.app import key_schedule
from backbeat.auth.domain import keys as key_rules
from backbeat.auth.service.keyring import delete_retired_keys, rotate_keys
from backbeat.auth.settings import AuthSettings
from backbeat.auth.store import keys as key_store
from backbeat.auth.store.sealing import KeySealer
from backbeat.runtime.database import Database


async def _run(args: argparse.Namespace) -> None:
    settings = AuthSettings()
    db = Database(settings.database_url, pool_size=1)
    sealer = KeySealer(settings.key_encryption_secret.get_secret_value())
    schedule = key_schedule(settings)
    now = datetime.now(UTC)
    try:
        if args.command == "rotate":
            key = await rotate_keys(
                db, sealer, schedule, now=now, activate_in=timedelta(seconds=args.activate_in)
            )
            assert key is not None
            print(f"new signing key {key.kid} signs from {key.activates_at.isoformat()}")
        elif args.command == "prune":
            retired = await delete_retired_keys(db, sealer, schedule, now=now)
            print(f"deleted {len(retired)} retired key(s): {' '.join(retired) or '-'}")
        else:
            async with db.session() as session:
                keys = await key_store.load_keys(session, sealer)
            current = key_rules.signing_key(keys, now)
            published = {k.kid for k in key_rules.published_keys(keys, now, schedule)}
            for key in sorted(keys, key=lambda k: k.activates_at):
                state = (
                    "signing"
                    if key is current
                    else "published"
                    if key.kid in published
                    else "retired"
                )
                print(f"{key.kid}  {state:9}  activates {key.activates_at.isoformat()}")
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m backbeat.auth.keys", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    rotate = commands.add_parser("rotate", help="add a new signing key")
    rotate.add_argument("--activate-in", type=int, default=0, metavar="SECONDS")
    commands.add_parser("list", help="show keys and their state")
    commands.add_parser("prune", help="delete keys no live token can be signed with")
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
