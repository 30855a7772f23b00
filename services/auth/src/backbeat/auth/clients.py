"""Service-client administration: ``python -m backbeat.auth.clients COMMAND``
(create, ensure, list, rotate-secret, delete).

``create`` and ``rotate-secret`` print the client secret once; only its digest is stored.
``ensure`` provisions a client with a secret the deployment already holds (read from an
environment variable, never from the command line): it creates the client or updates its
secret, audiences and scopes, and prints nothing secret. Provisioning scripts use it.

    python -m backbeat.auth.clients create --name watcher --audience tokens --scope tokens:read
    BACKBEAT_WATCHER_CLIENT_SECRET=... python -m backbeat.auth.clients ensure --name watcher \
        --audience tokens --scope tokens:read --secret-env BACKBEAT_WATCHER_CLIENT_SECRET
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime

from backbeat.auth.domain.opaque_tokens import CLIENT_SECRET_PREFIX, digest, new_opaque_token
from backbeat.auth.domain.service_clients import ServiceClient, validate_registration
from backbeat.auth.settings import AuthSettings
from backbeat.auth.store import clients as client_store
from backbeat.runtime.database import Database


async def register_client(
    db: Database, name: str, audiences: set[str], scopes: set[str], description: str = ""
) -> str:
    """Register a client and return its secret (shown to the operator once, never stored)."""
    problems = validate_registration(name, audiences, scopes)
    if problems:
        raise ValueError("; ".join(problems))
    secret = new_opaque_token(CLIENT_SECRET_PREFIX)
    client = ServiceClient(name, frozenset(audiences), frozenset(scopes))
    async with db.session() as session:
        created = await client_store.insert_client(
            session, client, digest(secret), description, datetime.now(UTC)
        )
    if not created:
        raise ValueError(f"client {name!r} already exists")
    return secret


async def ensure_client(
    db: Database, name: str, audiences: set[str], scopes: set[str], secret: str
) -> str:
    """Make the client exist with exactly this secret, audiences and scopes; says what it did."""
    problems = validate_registration(name, audiences, scopes)
    if problems:
        raise ValueError("; ".join(problems))
    client = ServiceClient(name, frozenset(audiences), frozenset(scopes))
    async with db.session() as session:
        if await client_store.insert_client(
            session, client, digest(secret), "provisioned", datetime.now(UTC)
        ):
            return "created"
    async with db.session() as session:
        await client_store.delete_client(session, name)
        await client_store.insert_client(
            session, client, digest(secret), "provisioned", datetime.now(UTC)
        )
    return "updated"


async def _run(args: argparse.Namespace) -> int:
    db = Database(AuthSettings().database_url, pool_size=1)
    try:
        if args.command == "create":
            try:
                secret = await register_client(
                    db, args.name, set(args.audience), set(args.scope or []), args.description
                )
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(f"client_id={args.name}")
            print(f"client_secret={secret}")
            print("store the secret now: it is not shown again", file=sys.stderr)
        elif args.command == "ensure":
            secret = os.environ.get(args.secret_env, "")
            if not secret:
                print(f"error: {args.secret_env} is not set", file=sys.stderr)
                return 2
            try:
                outcome = await ensure_client(
                    db, args.name, set(args.audience), set(args.scope or []), secret
                )
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(f"client {args.name} {outcome}")
        elif args.command == "rotate-secret":
            secret = new_opaque_token(CLIENT_SECRET_PREFIX)
            async with db.session() as session:
                found = await client_store.replace_secret(session, args.name, digest(secret))
            if not found:
                print(f"error: no client {args.name!r}", file=sys.stderr)
                return 2
            print(f"client_id={args.name}")
            print(f"client_secret={secret}")
        elif args.command == "delete":
            async with db.session() as session:
                found = await client_store.delete_client(session, args.name)
            if not found:
                print(f"error: no client {args.name!r}", file=sys.stderr)
                return 2
            print(f"deleted {args.name}")
        else:
            async with db.session() as session:
                for stored in await client_store.list_clients(session):
                    c = stored.client
                    print(
                        f"{c.client_id}  audiences={','.join(sorted(c.audiences))}  "
                        f"scopes={','.join(sorted(c.scopes)) or '-'}"
                        f"{'  disabled' if c.disabled else ''}"
                    )
        return 0
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m backbeat.auth.clients", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="register a service client")
    create.add_argument("--name", required=True, help="client id, e.g. watcher")
    create.add_argument("--audience", action="append", required=True, help="repeatable")
    create.add_argument("--scope", action="append", help="repeatable, e.g. tokens:read")
    create.add_argument("--description", default="")
    ensure = commands.add_parser("ensure", help="create or update a client with a known secret")
    ensure.add_argument("--name", required=True)
    ensure.add_argument("--audience", action="append", required=True, help="repeatable")
    ensure.add_argument("--scope", action="append", help="repeatable")
    ensure.add_argument(
        "--secret-env", required=True, help="the environment variable holding the secret"
    )
    rotate = commands.add_parser("rotate-secret", help="replace a client's secret")
    rotate.add_argument("--name", required=True)
    delete = commands.add_parser("delete", help="remove a client")
    delete.add_argument("--name", required=True)
    commands.add_parser("list", help="show registered clients")
    sys.exit(asyncio.run(_run(parser.parse_args())))


if __name__ == "__main__":
    main()
