"""Hands out a user's current Spotify access token, refreshing it ahead of expiry.

Exactly one refresh per user is in flight across every instance of the service:
- inside a process, concurrent callers for the same user share one task;
- across processes, a lease on the credentials row (owner and expiry, compared with the
  database's clock) admits one refresher; the others poll the row until the new token lands.
  The holder re-reads the row after taking the lease, so a refresh that another instance just
  finished is not repeated. A holder that dies leaves the old credentials in place and its
  lease runs out, after which another instance takes over.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import String, any_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from backbeat.events import topics
from backbeat.events.connections import ConnectionState, ConnectionStatus, connection_event
from backbeat.runtime.database import Database
from backbeat.runtime.outbox import enqueue
from backbeat.spotify.errors import SpotifyError
from backbeat.spotify.models import TokenGrant
from backbeat.tokens.domain.refresh import (
    FailureKind,
    RefreshPolicy,
    classify_failure,
    retry_after_of,
)
from backbeat.tokens.domain.vault import CredentialField, KeyRing, SealedSecret, open_sealed, seal
from backbeat.tokens.domain.warm_tokens import WarmTokens
from backbeat.tokens.service.audit import AuditTrail
from backbeat.tokens.service.errors import NeedsReauth, NotConnected, TryLater
from backbeat.tokens.service.rounds import StatementRounds
from backbeat.tokens.store.tables import audit_log, credentials, outbox

log = logging.getLogger(__name__)

_READ_ROUND = select(credentials).where(
    credentials.c.user_id == any_(bindparam("user_ids", type_=ARRAY(String)))
)


async def _read_round(connection: AsyncConnection, user_ids: list[str]) -> list[Row[Any] | None]:
    """The credentials rows of ``user_ids`` (None where there is none), in one statement."""
    rows = await connection.execute(_READ_ROUND, {"user_ids": sorted(set(user_ids))})
    by_user = {row.user_id: row for row in rows}
    return [by_user.get(user_id) for user_id in user_ids]


class TokenRefresher(Protocol):
    async def refresh(self, refresh_token: str) -> TokenGrant: ...


@dataclass(frozen=True)
class AccessToken:
    token: str = field(repr=False)
    expires_at: datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


class AccessTokenDispenser:
    """One per process; ``instance_id`` names this process as a lease owner."""

    def __init__(
        self,
        database: Database,
        keys: KeyRing,
        spotify: TokenRefresher,
        *,
        policy: RefreshPolicy | None = None,
        lease: timedelta = timedelta(seconds=15),
        poll_interval: timedelta = timedelta(milliseconds=50),
        instance_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        warm_cache: timedelta = timedelta(seconds=5),
        connections_topic: str = topics.SPOTIFY_CONNECTIONS,
    ) -> None:
        self.database = database
        self.keys = keys
        self.spotify = spotify
        self.policy = policy or RefreshPolicy()
        self.lease = lease
        self.poll_interval = poll_interval
        self.instance_id = instance_id or f"tokens-{uuid.uuid4().hex[:12]}"
        self.clock = clock
        self.rng = rng or random.Random()
        self._in_flight: dict[str, asyncio.Task[AccessToken]] = {}
        self.connections_topic = connections_topic
        self.audit = AuditTrail(database)
        # Reads of many users at once (a restart, the windows of many users ending together,
        # callers that come back after a pause) share one statement instead of a
        # transaction and a pooled connection each.
        self._reads: StatementRounds[str, Row[Any] | None] = StatementRounds(
            database, _read_round, name="credential-reads"
        )
        # Recently read tokens, so a busy caller does not cost a database read per hand-out.
        # Another instance's disconnect or refresh is seen here within ``warm_cache``: Spotify
        # keeps a replaced access token valid until its own expiry, so a cached one still works.
        self.warm_cache = warm_cache.total_seconds()
        self._warm: WarmTokens[AccessToken] = WarmTokens(self.warm_cache)

    async def access_token(self, user_id: str, *, actor: str) -> AccessToken:
        """The user's access token, valid for at least the refresh margin when possible."""
        token = self._warm.get(user_id, self.clock(), self.policy.margin)
        if token is None:
            token = await self._coalesced(user_id, actor)
        elif self._warm.read_again(user_id) and user_id not in self._in_flight:
            self._start_read(user_id).add_done_callback(self._after_read_ahead(user_id))
        await self._audit(actor, user_id, "hand_out", "handed_out")
        return token

    def forget(self, user_id: str) -> None:
        """Drop what this instance remembers of the user (disconnect, reconnect, erasure, a
        revoked session): the next hand-out reads the database, and a read already under
        way neither serves callers arriving from now on nor is remembered."""
        self._warm.forget(user_id)
        self._in_flight.pop(user_id, None)

    async def _coalesced(self, user_id: str, actor: str) -> AccessToken:
        task = self._in_flight.get(user_id) or self._start_read(user_id)
        try:
            # shield: one caller giving up must not cancel the refresh the others wait for.
            return await asyncio.shield(task)
        except (NotConnected, NeedsReauth, TryLater) as refused:
            self.forget(user_id)
            await self._audit(actor, user_id, "hand_out", refused.code)
            raise

    def _start_read(self, user_id: str) -> asyncio.Task[AccessToken]:
        task = asyncio.create_task(self._obtain_and_remember(user_id))
        self._in_flight[user_id] = task
        task.add_done_callback(lambda done: self._end_in_flight(user_id, done))
        return task

    def _after_read_ahead(self, user_id: str) -> Callable[[asyncio.Task[AccessToken]], None]:
        """A read started ahead of an entry's end has no caller: what it finds is kept for
        the next ones, and a user who is no longer connected (disconnected on another
        instance) is forgotten now rather than at the end of the window. Other failures
        leave the entry to run out; the next caller after it reads and hears of them."""

        def after(task: asyncio.Task[AccessToken]) -> None:
            if task.cancelled():
                return
            error = task.exception()
            if isinstance(error, NotConnected | NeedsReauth):
                self.forget(user_id)
            elif error is not None:
                log.warning(
                    "reading a token ahead failed",
                    extra={"user_id": user_id, "error": type(error).__name__},
                )

        return after

    def _end_in_flight(self, user_id: str, task: asyncio.Task[AccessToken]) -> None:
        # Only this task's own entry: after a forget, a newer read may stand there.
        if self._in_flight.get(user_id) is task:
            del self._in_flight[user_id]

    async def _obtain_and_remember(self, user_id: str) -> AccessToken:
        ticket = self._warm.begin_read()
        token = await self._obtain(user_id)
        self._warm.put(user_id, token, token.expires_at, ticket)
        return token

    async def _obtain(self, user_id: str) -> AccessToken:
        waited_since = time.monotonic()
        while True:
            row = await self._read(user_id)
            now = self.clock()
            if row.status == ConnectionStatus.NEEDS_REAUTH:
                raise NeedsReauth("the user must reconnect Spotify")
            if not self.policy.needs_refresh(row.expires_at, now):
                return self._unseal_access(row)
            if row.cooldown_until is not None and row.cooldown_until > now:
                if row.expires_at > now:
                    # Inside the margin but still valid: better than nothing during an outage.
                    return self._unseal_access(row)
                wait = (row.cooldown_until - now).total_seconds()
                raise TryLater("Spotify is unavailable; try again later", wait)
            claimed = await self._claim_lease(user_id)
            if claimed is not None:
                return await self._refresh_holding_lease(claimed)
            if time.monotonic() - waited_since > 2 * self.lease.total_seconds():
                raise TryLater("a refresh is taking too long", self.lease.total_seconds())
            await asyncio.sleep(self.poll_interval.total_seconds())

    async def _read(self, user_id: str) -> Row[Any]:
        row = await self._reads.submit(user_id)
        if row is None:
            raise NotConnected("no Spotify connection for this user")
        return row

    async def _claim_lease(self, user_id: str) -> Row[Any] | None:
        c = credentials
        async with self.database.session() as session:
            return (
                await session.execute(
                    update(c)
                    .where(
                        c.c.user_id == user_id,
                        (c.c.refresh_lease_until.is_(None))
                        | (c.c.refresh_lease_until < func.now()),
                    )
                    .values(
                        refresh_owner=self.instance_id,
                        refresh_lease_until=func.now() + self.lease,
                    )
                    .returning(*c.c)
                )
            ).first()

    async def _release_lease(self, session: AsyncSession, user_id: str, **values: Any) -> int:
        c = credentials
        result = await session.execute(
            update(c)
            .where(c.c.user_id == user_id, c.c.refresh_owner == self.instance_id)
            .values(refresh_owner=None, refresh_lease_until=None, **values)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def _refresh_holding_lease(self, row: Row[Any]) -> AccessToken:
        user_id = row.user_id
        done = False
        try:
            # The row as it is now: another instance may have refreshed while we waited.
            if not self.policy.needs_refresh(row.expires_at, self.clock()):
                return self._unseal_access(row)
            refresh_token = open_sealed(
                self.keys, user_id, CredentialField.REFRESH_TOKEN, self._sealed(row, "refresh")
            )
            grant = await self._call_spotify(row, refresh_token)
            token = await self._store_grant(row, refresh_token, grant)
            done = True
            return token
        finally:
            if not done:
                async with self.database.session() as session:
                    await self._release_lease(session, user_id)

    async def _call_spotify(self, row: Row[Any], refresh_token: str) -> TokenGrant:
        budget_ends = time.monotonic() + self.policy.retry_budget.total_seconds()
        attempt = 0
        while True:
            try:
                return await self.spotify.refresh(refresh_token)
            except SpotifyError as error:
                kind = classify_failure(error)
                log.warning(
                    "Spotify refresh failed",
                    extra={"user_id": row.user_id, "failure": kind.value, "error": repr(error)},
                )
                if kind is FailureKind.NEEDS_REAUTH:
                    await self._mark_needs_reauth(row)
                    raise NeedsReauth(
                        "Spotify revoked the grant; the user must reconnect"
                    ) from error
                delay = self.policy.backoff(attempt, self.rng, retry_after_of(error))
                if kind is FailureKind.MISCONFIGURED or (
                    time.monotonic() + delay.total_seconds() > budget_ends
                ):
                    cooldown = max(self.policy.cooldown, delay)
                    await self._enter_cooldown(row, cooldown)
                    raise TryLater(
                        "Spotify is unavailable; try again later", cooldown.total_seconds()
                    ) from error
                attempt += 1
                await asyncio.sleep(delay.total_seconds())

    async def _store_grant(
        self, row: Row[Any], old_refresh_token: str, grant: TokenGrant
    ) -> AccessToken:
        user_id = row.user_id
        access = grant.access_token.get_secret_value()
        # Spotify often sends no new refresh token on refresh: the old one stays valid.
        refresh = (
            grant.refresh_token.get_secret_value() if grant.refresh_token else old_refresh_token
        )
        expires_at = grant.expires_at(self.clock())
        sealed_access = seal(self.keys, user_id, CredentialField.ACCESS_TOKEN, access)
        sealed_refresh = seal(self.keys, user_id, CredentialField.REFRESH_TOKEN, refresh)
        async with self.database.session() as session:
            written = await self._release_lease(
                session,
                user_id,
                key_id=self.keys.active,
                access_token=sealed_access.blob,
                refresh_token=sealed_refresh.blob,
                expires_at=expires_at,
                scopes=sorted(grant.scopes) if grant.scope else row.scopes,
                cooldown_until=None,
                consecutive_failures=0,
                version=credentials.c.version + 1,
                updated_at=self.clock(),
            )
            await self._audit_in(session, self.instance_id, user_id, "refresh", "ok")
        if written == 0:
            # The lease ran out and another instance took over; its write wins.
            log.warning("refresh lease lost before the write", extra={"user_id": user_id})
        return AccessToken(token=access, expires_at=expires_at)

    async def _mark_needs_reauth(self, row: Row[Any]) -> None:
        now = self.clock()
        async with self.database.session() as session:
            await self._release_lease(
                session, row.user_id, status=ConnectionStatus.NEEDS_REAUTH.value, status_since=now
            )
            state = ConnectionState(
                user_id=row.user_id,
                status=ConnectionStatus.NEEDS_REAUTH,
                scopes=list(row.scopes),
                spotify_client_id=row.spotify_client_id,
                since=now,
            )
            await enqueue(
                session, outbox, self.connections_topic, connection_event(state), row.user_id
            )
            await self._audit_in(session, self.instance_id, row.user_id, "refresh", "needs_reauth")

    async def _enter_cooldown(self, row: Row[Any], cooldown: timedelta) -> None:
        async with self.database.session() as session:
            await self._release_lease(
                session,
                row.user_id,
                cooldown_until=self.clock() + cooldown,
                consecutive_failures=credentials.c.consecutive_failures + 1,
            )
            await self._audit_in(session, self.instance_id, row.user_id, "refresh", "try_later")

    def _sealed(self, row: Row[Any], which: str) -> SealedSecret:
        blob = row.access_token if which == "access" else row.refresh_token
        return SealedSecret(key_id=row.key_id, blob=bytes(blob))

    def _unseal_access(self, row: Row[Any]) -> AccessToken:
        token = open_sealed(
            self.keys, row.user_id, CredentialField.ACCESS_TOKEN, self._sealed(row, "access")
        )
        return AccessToken(token=token, expires_at=row.expires_at)

    async def _audit(self, actor: str, user_id: str, action: str, outcome: str) -> None:
        await self.audit.record(
            at=self.clock(), actor=actor, user_id=user_id, action=action, outcome=outcome
        )

    async def _audit_in(
        self, session: AsyncSession, actor: str, user_id: str, action: str, outcome: str
    ) -> None:
        await session.execute(
            audit_log.insert().values(
                at=self.clock(), actor=actor, user_id=user_id, action=action, outcome=outcome
            )
        )
