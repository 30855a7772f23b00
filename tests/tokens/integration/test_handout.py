"""Handing out access tokens: one refresh per user across instances, failures told apart,
credentials never lost."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select, text, update

from backbeat.events.cloudevents import read_attributes
from backbeat.runtime.database import Database
from backbeat.spotify.errors import InvalidGrant, TransientSpotifyError
from backbeat.spotify.models import TokenGrant
from backbeat.tokens.domain.refresh import RefreshPolicy
from backbeat.tokens.domain.vault import KeyRing
from backbeat.tokens.service.connections import remove_connection, store_connection
from backbeat.tokens.service.errors import NeedsReauth, NotConnected, TryLater
from backbeat.tokens.service.handout import AccessTokenDispenser
from backbeat.tokens.store.tables import audit_log, credentials, outbox

pytestmark = pytest.mark.integration

KEYS = KeyRing.parse(f"k1:{KeyRing.generate_key()}")


class SpotifyAccounts:
    """Spotify's token endpoint as seen by the dispenser: counts refreshes per refresh token."""

    def __init__(self, *, rotate: bool = False, delay_s: float = 0.05) -> None:
        self.calls: Counter[str] = Counter()
        self.rotate = rotate
        self.delay_s = delay_s
        self.failures: list[Exception] = []

    async def refresh(self, refresh_token: str) -> TokenGrant:
        self.calls[refresh_token] += 1
        await asyncio.sleep(self.delay_s)
        if self.failures:
            raise self.failures.pop(0)
        n = sum(self.calls.values())
        return TokenGrant(
            access_token=SecretStr(f"access-{refresh_token}-{n}"),
            token_type="Bearer",
            expires_in=3600,
            scope="user-read-playback-state",
            refresh_token=SecretStr(f"{refresh_token}-r{n}") if self.rotate else None,
        )


def grant(user: str, expires_in: int) -> TokenGrant:
    return TokenGrant(
        access_token=SecretStr(f"initial-access-{user}"),
        token_type="Bearer",
        expires_in=expires_in,
        scope="user-read-playback-state user-modify-playback-state",
        refresh_token=SecretStr(f"refresh-{user}"),
    )


async def connect(db: Database, user: str, *, expired: bool) -> None:
    now = datetime.now(UTC)
    await store_connection(
        db,
        KEYS,
        user_id=user,
        spotify_user_id=f"spotify-{user}",
        spotify_client_id="app-1",
        grant=grant(user, expires_in=-10 if expired else 3600),
        now=now,
    )


def dispenser(db: Database, spotify: SpotifyAccounts, **kwargs) -> AccessTokenDispenser:
    policy = kwargs.pop(
        "policy",
        RefreshPolicy(retry_budget=timedelta(milliseconds=300), cooldown=timedelta(seconds=30)),
    )
    # These tests move expiry by editing rows, so nothing may be remembered between calls.
    kwargs.setdefault("warm_cache", timedelta(0))
    return AccessTokenDispenser(db, KEYS, spotify, policy=policy, **kwargs)


async def test_two_hundred_callers_on_two_instances_cause_one_refresh_per_user(
    tokens_db: Database, tokens_url: str
) -> None:
    users = [f"user-{n}" for n in range(20)]
    for user in users:
        await connect(tokens_db, user, expired=True)
    spotify = SpotifyAccounts(delay_s=0.1)
    other_db = Database(tokens_url)  # the second instance has its own pool
    instances = [dispenser(tokens_db, spotify), dispenser(other_db, spotify)]
    try:
        results = await asyncio.gather(
            *(
                instances[(n // 20) % 2].access_token(users[n % 20], actor="svc:watcher")
                for n in range(200)
            )
        )
    finally:
        await other_db.dispose()
    assert spotify.calls == Counter({f"refresh-{user}": 1 for user in users})
    for n, token in enumerate(results):
        assert token.token.startswith(f"access-refresh-{users[n % 20]}-")
        assert token.expires_at > datetime.now(UTC) + timedelta(minutes=59)


async def test_a_warm_token_is_handed_out_without_calling_spotify_and_is_audited(
    tokens_db: Database,
) -> None:
    await connect(tokens_db, "user-1", expired=False)
    spotify = SpotifyAccounts()
    token = await dispenser(tokens_db, spotify).access_token("user-1", actor="svc:playback")
    assert token.token == "initial-access-user-1"
    assert not spotify.calls
    async with tokens_db.session() as session:
        rows = (await session.execute(select(audit_log))).all()
    assert [(r.actor, r.user_id, r.action, r.outcome) for r in rows] == [
        ("svc:playback", "user-1", "hand_out", "handed_out")
    ]


async def test_the_old_refresh_token_is_kept_when_spotify_sends_none_and_replaced_when_it_does(
    tokens_db: Database,
) -> None:
    await connect(tokens_db, "user-1", expired=True)
    keeps = SpotifyAccounts(rotate=False)
    handout = dispenser(tokens_db, keeps)
    await handout.access_token("user-1", actor="t")
    await tokens_db.engine.dispose()
    async with tokens_db.session() as session:
        await session.execute(update(credentials).values(expires_at=datetime.now(UTC)))
    await handout.access_token("user-1", actor="t")
    assert keeps.calls == Counter({"refresh-user-1": 2})

    rotates = SpotifyAccounts(rotate=True)
    handout = dispenser(tokens_db, rotates)
    async with tokens_db.session() as session:
        await session.execute(update(credentials).values(expires_at=datetime.now(UTC)))
    await handout.access_token("user-1", actor="t")
    async with tokens_db.session() as session:
        await session.execute(update(credentials).values(expires_at=datetime.now(UTC)))
    await handout.access_token("user-1", actor="t")
    assert rotates.calls == Counter({"refresh-user-1": 1, "refresh-user-1-r1": 1})


async def test_invalid_grant_marks_the_user_for_reconnect_publishes_it_and_stops_refreshing(
    tokens_db: Database,
) -> None:
    await connect(tokens_db, "user-1", expired=True)
    spotify = SpotifyAccounts()
    spotify.failures = [InvalidGrant("invalid_grant", "Refresh token revoked", status=400)]
    handout = dispenser(tokens_db, spotify)
    with pytest.raises(NeedsReauth):
        await handout.access_token("user-1", actor="t")
    with pytest.raises(NeedsReauth):
        await handout.access_token("user-1", actor="t")
    assert sum(spotify.calls.values()) == 1
    async with tokens_db.session() as session:
        events = (await session.execute(select(outbox).order_by(outbox.c.id))).all()
        row = (await session.execute(select(credentials))).one()
    assert row.status == "needs_reauth"
    assert row.refresh_token  # kept: nothing is deleted until the user disconnects
    kinds = [read_attributes([(n, v.encode()) for n, v in e.headers])["type"] for e in events]
    assert kinds == ["dev.backbeat.spotify.connection_changed.v1"] * 2  # connected, needs_reauth
    assert b'"status":"needs_reauth"' in events[-1].value


async def test_an_outage_keeps_the_credentials_and_cools_down_instead_of_hammering(
    tokens_db: Database,
) -> None:
    await connect(tokens_db, "user-1", expired=True)
    spotify = SpotifyAccounts(delay_s=0)
    spotify.failures = [TransientSpotifyError("bad gateway", status=502)] * 50
    handout = dispenser(tokens_db, spotify)
    with pytest.raises(TryLater) as first:
        await handout.access_token("user-1", actor="t")
    calls_during_budget = sum(spotify.calls.values())
    assert calls_during_budget >= 2  # retried with backoff inside the budget
    assert first.value.retry_after_s >= 30
    with pytest.raises(TryLater):
        await handout.access_token("user-1", actor="t")
    assert sum(spotify.calls.values()) == calls_during_budget  # the cooldown holds
    async with tokens_db.session() as session:
        row = (await session.execute(select(credentials))).one()
    assert row.status == "connected" and row.refresh_token and row.refresh_owner is None


async def test_a_lease_left_by_a_dead_instance_is_taken_over_after_it_expires(
    tokens_db: Database,
) -> None:
    await connect(tokens_db, "user-1", expired=True)
    async with tokens_db.session() as session:
        await session.execute(
            text(
                "UPDATE spotify_credentials SET refresh_owner = 'tokens-dead', "
                "refresh_lease_until = now() + interval '1 second'"
            )
        )
    spotify = SpotifyAccounts()
    token = await dispenser(tokens_db, spotify, lease=timedelta(seconds=5)).access_token(
        "user-1", actor="t"
    )
    assert token.token.startswith("access-refresh-user-1")
    assert sum(spotify.calls.values()) == 1


async def test_a_user_without_a_connection_gets_not_connected(tokens_db: Database) -> None:
    with pytest.raises(NotConnected):
        await dispenser(tokens_db, SpotifyAccounts()).access_token("nobody", actor="t")


async def test_an_instance_sees_a_disconnect_made_elsewhere_within_its_cache_window(
    tokens_db: Database,
) -> None:
    await connect(tokens_db, "user-1", expired=False)
    handout = dispenser(tokens_db, SpotifyAccounts(), warm_cache=timedelta(milliseconds=500))
    assert (await handout.access_token("user-1", actor="t")).token == "initial-access-user-1"
    await remove_connection(tokens_db, "user-1", now=datetime.now(UTC))  # another instance
    await asyncio.sleep(0.6)
    with pytest.raises(NotConnected):
        await handout.access_token("user-1", actor="t")
