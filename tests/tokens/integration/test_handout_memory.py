"""Tokens handed out again from an instance's memory: only to be asked for the same user, and
never after a disconnect, an erasure or a revocation reached this instance, even when a read
was under way at that moment. The audit trail still records every hand-out first."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from backbeat.authn.revocations import Revocation
from backbeat.runtime.database import Database
from backbeat.tokens.app import create_app
from backbeat.tokens.domain.vault import CredentialField, seal
from backbeat.tokens.domain.warm_tokens import WarmTokens
from backbeat.tokens.service.audit import AuditTrail
from backbeat.tokens.service.connections import remove_connection
from backbeat.tokens.service.errors import NotConnected
from backbeat.tokens.settings import TokensSettings
from backbeat.tokens.store.tables import audit_log, credentials

from .test_handout import KEYS, SpotifyAccounts, connect, dispenser

pytestmark = pytest.mark.integration

REMEMBER = timedelta(seconds=60)


async def replace_access_token(db: Database, user: str, token: str) -> None:
    """What another instance's refresh leaves in the row."""
    sealed = seal(KEYS, user, CredentialField.ACCESS_TOKEN, token)
    async with db.session() as session:
        await session.execute(
            credentials.update()
            .where(credentials.c.user_id == user)
            .values(key_id=sealed.key_id, access_token=sealed.blob)
        )


async def audited(db: Database, user: str) -> int:
    async with db.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(audit_log).where(audit_log.c.user_id == user)
        )
    return int(count or 0)


async def test_remembered_tokens_go_only_to_requests_for_their_own_user(
    tokens_db: Database,
) -> None:
    users = [f"user-{n}" for n in range(8)]
    for user in users:
        await connect(tokens_db, user, expired=False)
    handout = dispenser(tokens_db, SpotifyAccounts(), warm_cache=REMEMBER)
    asked = [users[n % len(users)] for n in range(400)]
    random.Random(7).shuffle(asked)

    tokens = await asyncio.gather(*(handout.access_token(u, actor="svc:watcher") for u in asked))

    assert [t.token for t in tokens] == [f"initial-access-{u}" for u in asked]
    # Served from memory, yet each hand-out is in the audit trail.
    assert sum([await audited(tokens_db, u) for u in users]) == 400


async def test_a_disconnect_here_ends_the_remembered_token_and_a_read_under_way(
    tokens_db: Database,
) -> None:
    await connect(tokens_db, "user-1", expired=True)
    spotify = SpotifyAccounts(delay_s=0.5)  # a refresh is under way during the disconnect
    handout = dispenser(tokens_db, spotify, warm_cache=REMEMBER)
    under_way = asyncio.create_task(handout.access_token("user-1", actor="svc:watcher"))
    deadline = time.monotonic() + 5
    while not spotify.calls:
        assert time.monotonic() < deadline, "the refresh never started"
        await asyncio.sleep(0.01)

    await remove_connection(tokens_db, "user-1", now=datetime.now(UTC))
    handout.forget("user-1")

    # A caller after the disconnect does not join the read that began before it...
    with pytest.raises(NotConnected):
        await handout.access_token("user-1", actor="svc:watcher")
    # ...the caller that asked before it gets its answer...
    assert (await under_way).token.startswith("access-refresh-user-1")
    # ...and that answer is not remembered for anyone after.
    with pytest.raises(NotConnected):
        await handout.access_token("user-1", actor="svc:watcher")


async def test_a_token_refreshed_elsewhere_is_read_again_once_its_window_is_over(
    tokens_db: Database,
) -> None:
    await connect(tokens_db, "user-1", expired=False)
    handout = dispenser(tokens_db, SpotifyAccounts(), warm_cache=timedelta(milliseconds=400))
    assert (await handout.access_token("user-1", actor="t")).token == "initial-access-user-1"
    await replace_access_token(tokens_db, "user-1", "refreshed-elsewhere")

    deadline = time.monotonic() + 5
    while (await handout.access_token("user-1", actor="t")).token != "refreshed-elsewhere":
        assert time.monotonic() < deadline, "the remembered token outlived its window"
        await asyncio.sleep(0.05)


async def test_a_token_near_its_expiry_is_not_handed_out_from_memory(
    tokens_db: Database,
) -> None:
    await connect(tokens_db, "user-1", expired=False)
    spotify = SpotifyAccounts(delay_s=0)
    handout = dispenser(tokens_db, spotify, warm_cache=REMEMBER)
    assert (await handout.access_token("user-1", actor="t")).token == "initial-access-user-1"
    # The clock moves to within the refresh margin of the remembered token's expiry.
    handout.clock = lambda: datetime.now(UTC) + timedelta(minutes=56)

    token = await handout.access_token("user-1", actor="t")

    assert token.token != "initial-access-user-1"
    assert sum(spotify.calls.values()) == 1


def tokens_app(tokens_url: str) -> TokensSettings:
    suffix = uuid.uuid4().hex
    return TokensSettings(
        database_url=tokens_url,
        connections_topic=f"test.spotify.connections.{suffix}",
        users_topic=f"test.auth.users.{suffix}",
        revocations_topic=f"test.auth.revocations.{suffix}",
    )


async def test_a_revocation_of_the_user_ends_the_token_remembered_for_them(
    tokens_db: Database, tokens_url: str
) -> None:
    user, bystander = str(uuid.uuid4()), str(uuid.uuid4())
    await connect(tokens_db, user, expired=False)
    await connect(tokens_db, bystander, expired=False)
    settings = tokens_app(tokens_url)
    app = create_app(settings)
    app.state.dispenser = dispenser(tokens_db, SpotifyAccounts(), warm_cache=REMEMBER)
    handout = app.state.dispenser
    try:
        for who in (user, bystander):
            await handout.access_token(who, actor="t")
            await replace_access_token(tokens_db, who, f"refreshed-{who}")
        assert (await handout.access_token(user, actor="t")).token == f"initial-access-{user}"

        # Read from auth's revocations topic on every instance (the account was deleted,
        # or every session of the user signed out).
        app.state.revocations.add(Revocation(uuid.UUID(user), None, time.time()))

        assert (await handout.access_token(user, actor="t")).token == f"refreshed-{user}"
        # Nobody else's remembered token is touched.
        assert (
            await handout.access_token(bystander, actor="t")
        ).token == f"initial-access-{bystander}"
    finally:
        await app.state.database.dispose()


async def test_an_erasure_here_ends_the_token_remembered_for_the_user(
    tokens_db: Database,
) -> None:
    await connect(tokens_db, "user-1", expired=False)
    handout = dispenser(tokens_db, SpotifyAccounts(), warm_cache=REMEMBER)
    await handout.access_token("user-1", actor="t")
    await remove_connection(tokens_db, "user-1", now=datetime.now(UTC))

    handout.forget("user-1")  # what the erasure consumer calls once the rows are gone

    with pytest.raises(NotConnected):
        await handout.access_token("user-1", actor="t")


async def test_every_record_is_written_while_rounds_start_and_stop(tokens_db: Database) -> None:
    trail = AuditTrail(tokens_db)
    rng = random.Random(11)
    written = 0

    async def one(n: int) -> None:
        await asyncio.sleep(rng.random() * 0.01)
        await trail.record(
            at=datetime.now(UTC), actor="t", user_id="user-1", action="hand_out", outcome=str(n)
        )

    for _ in range(30):
        size = rng.randint(1, 20)
        # A record that waits behind a writer which has stopped would wait for ever.
        await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(size))), 10)
        written += size
        await asyncio.sleep(rng.random() * 0.005)

    assert await audited(tokens_db, "user-1") == written


async def test_a_caller_that_goes_away_does_not_take_its_audit_record_with_it(
    tokens_db: Database,
) -> None:
    trail = AuditTrail(tokens_db)
    waiting = asyncio.create_task(
        trail.record(
            at=datetime.now(UTC), actor="t", user_id="user-1", action="hand_out", outcome="x"
        )
    )
    await asyncio.sleep(0)
    waiting.cancel()

    deadline = time.monotonic() + 5
    while await audited(tokens_db, "user-1") != 1:
        assert time.monotonic() < deadline, "the record was lost with its caller"
        await asyncio.sleep(0.02)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_user_asked_for_steadily_is_read_again_in_the_background(
    tokens_db: Database,
) -> None:
    await connect(tokens_db, "user-1", expired=False)
    handout = dispenser(tokens_db, SpotifyAccounts(), warm_cache=REMEMBER)
    clock = Clock()
    handout._warm = WarmTokens(60.0, clock=clock, uniform=lambda low, high: high)
    assert (await handout.access_token("user-1", actor="t")).token == "initial-access-user-1"
    await replace_access_token(tokens_db, "user-1", "refreshed-elsewhere")

    # Past half the window, still within it: served from memory, and read again meanwhile.
    clock.now += 31
    assert (await handout.access_token("user-1", actor="t")).token == "initial-access-user-1"
    deadline = time.monotonic() + 5
    while (await handout.access_token("user-1", actor="t")).token != "refreshed-elsewhere":
        assert time.monotonic() < deadline, "the entry was not read again"
        await asyncio.sleep(0.02)

    # A disconnect on another instance, found by such a read: forgotten before the window ends.
    await remove_connection(tokens_db, "user-1", now=datetime.now(UTC))
    clock.now += 31
    await handout.access_token("user-1", actor="t")
    deadline = time.monotonic() + 5
    with pytest.raises(NotConnected):
        while True:
            assert time.monotonic() < deadline, "the disconnect was not noticed"
            await handout.access_token("user-1", actor="t")
            await asyncio.sleep(0.02)
