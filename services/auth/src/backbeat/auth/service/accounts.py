"""Users' accounts and sessions: sign-up, sign-in, refresh, sign-out, password change and
account deletion."""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID

import anyio
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from backbeat.auth.domain import access_tokens
from backbeat.auth.domain.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    PasswordRejected,
    RefreshRefused,
    SessionEnded,
    TooManyAttempts,
    WrongPassword,
)
from backbeat.auth.domain.opaque_tokens import REFRESH_TOKEN_PREFIX, digest, new_opaque_token
from backbeat.auth.domain.passwords import PasswordHasher, PasswordPolicy
from backbeat.auth.domain.refresh import RefreshOutcome, RefreshPolicy, decide_refresh
from backbeat.auth.domain.throttle import (
    FailureRecord,
    ThrottlePolicy,
    ThrottleScope,
    retry_after,
    throttled_address,
)
from backbeat.auth.service.keyring import KeyRing, utc_now
from backbeat.auth.store import sessions as session_store
from backbeat.auth.store import throttle as throttle_store
from backbeat.auth.store import users as user_store
from backbeat.authn.claims import UserPrincipal
from backbeat.events.revocations import (
    RevocationReason,
    SessionRevoked,
    session_revoked_event,
)
from backbeat.events.topics import AUTH_REVOCATIONS, AUTH_USERS
from backbeat.events.users import UserDeleted, user_deleted_event
from backbeat.runtime.database import Database
from backbeat.runtime.outbox import enqueue

T = TypeVar("T")


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int

    def __repr__(self) -> str:
        return f"TokenPair(expires_in={self.expires_in})"


@dataclass(frozen=True, slots=True)
class AccessTokenSettings:
    issuer: str
    audience: str
    ttl_s: int


def _throttle_subjects(email: str, address: str) -> dict[ThrottleScope, bytes]:
    # Hashed so the table holds neither addresses nor the emails of accounts that do not
    # exist; the NUL keeps ("a", "bc") and ("ab", "c") apart.
    address = throttled_address(address)
    return {
        ThrottleScope.PAIR: hashlib.sha256(f"{email}\0{address}".encode()).digest(),
        ThrottleScope.ACCOUNT: hashlib.sha256(f"account\0{email}".encode()).digest(),
        ThrottleScope.ADDRESS: hashlib.sha256(f"address\0{address}".encode()).digest(),
    }


class Accounts:
    def __init__(
        self,
        db: Database,
        *,
        hasher: PasswordHasher,
        password_policy: PasswordPolicy,
        refresh_policy: RefreshPolicy,
        throttle_policy: ThrottlePolicy,
        keyring: KeyRing,
        access: AccessTokenSettings,
        outbox: Table,
        users_topic: str = AUTH_USERS,
        revocations_topic: str = AUTH_REVOCATIONS,
        on_outbox_write: Callable[[], None] = lambda: None,
        hash_concurrency: int = 4,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.db = db
        self.hasher = hasher
        self.password_policy = password_policy
        self.refresh_policy = refresh_policy
        self.throttle_policy = throttle_policy
        self.keyring = keyring
        self.access = access
        self.outbox = outbox
        self.users_topic = users_topic
        self.revocations_topic = revocations_topic
        self.on_outbox_write = on_outbox_write
        self.clock = clock
        self._hash_limiter = anyio.CapacityLimiter(hash_concurrency)

    async def _hashing(self, work: Callable[[], T]) -> T:
        # argon2 holds the GIL-free CPU and its memory for tens of milliseconds: off the
        # event loop, and only a few at once.
        return await anyio.to_thread.run_sync(work, limiter=self._hash_limiter)

    def _check_policy(self, password: str) -> None:
        rejection = self.password_policy.check(password)
        if rejection is not None:
            raise PasswordRejected(
                rejection, self.password_policy.min_length, self.password_policy.max_length
            )

    async def sign_up(self, email: str, password: str) -> UUID:
        self._check_policy(password)
        password_hash = await self._hashing(lambda: self.hasher.hash(password))
        user_id = uuid.uuid4()
        async with self.db.session() as session:
            created = await user_store.insert_user(
                session, user_id, normalise_email(email), password_hash, self.clock()
            )
        if not created:
            raise EmailTaken()
        return user_id

    async def sign_in(self, email: str, password: str, address: str) -> TokenPair:
        email = normalise_email(email)
        subjects = _throttle_subjects(email, address)
        async with self.db.session() as session:
            records = await throttle_store.load_records(session, subjects)
            user = await user_store.user_by_email(session, email)
        self._refuse_if_throttled(records)
        if user is None:
            # Same work as a wrong password, so the answer and its timing do not tell
            # whether the account exists.
            await self._hashing(lambda: self.hasher.verify_dummy(password))
            verified = False
        else:
            stored_hash = user.password_hash
            verified = await self._hashing(lambda: self.hasher.verify(stored_hash, password))
        now = self.clock()
        if user is None or not verified:
            await self._count_failure(subjects, now)
            raise InvalidCredentials()
        new_hash = None
        if self.hasher.needs_rehash(user.password_hash):
            new_hash = await self._hashing(lambda: self.hasher.hash(password))
        async with self.db.session() as session:
            await throttle_store.record_success(session, subjects[ThrottleScope.PAIR], now)
            if new_hash is not None:
                await user_store.replace_password_hash(session, user.id, new_hash, changed_at=None)
            return await self._start_session(session, user.id, now)

    def _refuse_if_throttled(self, records: dict[ThrottleScope, FailureRecord]) -> None:
        """Refused while the attempt's account, address or their pair must wait: checked
        before the password, so a throttled guess learns nothing and costs no hash."""
        wait = retry_after(self.throttle_policy, records, self.clock())
        if wait.total_seconds() > 0:
            raise TooManyAttempts(math.ceil(wait.total_seconds()))

    async def _count_failure(self, subjects: dict[ThrottleScope, bytes], now: datetime) -> None:
        async with self.db.session() as session:
            await throttle_store.record_failure(session, subjects, now, self.throttle_policy.window)

    async def _start_session(
        self, session: AsyncSession, user_id: UUID, now: datetime
    ) -> TokenPair:
        session_id = uuid.uuid4()
        session_expires_at = self.refresh_policy.session_expiry(now)
        await session_store.create_session(session, session_id, user_id, now, session_expires_at)
        refresh_token = new_opaque_token(REFRESH_TOKEN_PREFIX)
        await session_store.add_refresh_token(
            session,
            digest(refresh_token),
            session_id,
            now,
            self.refresh_policy.token_expiry(now, session_expires_at),
        )
        return self._pair(user_id, session_id, refresh_token, now)

    def _pair(
        self, user_id: UUID, session_id: UUID, refresh_token: str, now: datetime
    ) -> TokenPair:
        claims = access_tokens.user_access_claims(
            issuer=self.access.issuer,
            audience=self.access.audience,
            user_id=user_id,
            session_id=session_id,
            now=now,
            ttl=timedelta(seconds=self.access.ttl_s),
        )
        issued = access_tokens.sign(claims, self.keyring.signing_key())
        return TokenPair(issued.token, refresh_token, issued.expires_in)

    async def _publish_revocation(
        self,
        session: AsyncSession,
        user_id: UUID,
        session_id: UUID | None,
        reason: RevocationReason,
        now: datetime,
    ) -> None:
        """Tell every verifier, in the transaction that ends the session(s), to refuse their
        access tokens now rather than when they expire."""
        revoked = SessionRevoked(
            user_id=str(user_id),
            session_id=str(session_id) if session_id is not None else None,
            reason=reason,
            revoked_at=now,
            expires_at=now + timedelta(seconds=self.access.ttl_s),
        )
        await enqueue(
            session,
            self.outbox,
            self.revocations_topic,
            session_revoked_event(revoked),
            key=str(user_id),
        )

    async def refresh(self, refresh_token: str) -> TokenPair:
        now = self.clock()
        presented_digest = digest(refresh_token)
        pair: TokenPair | None = None
        async with self.db.session() as session:
            stored = await session_store.refresh_token_for_update(session, presented_digest)
            if stored is None:
                raise InvalidRefreshToken()
            outcome = decide_refresh(stored.presented, now)
            if outcome is RefreshOutcome.REUSED:
                # Committed before answering: the family stays revoked whatever happens next.
                await session_store.revoke_session(
                    session, stored.session_id, now, "refresh_token_reused"
                )
                await self._publish_revocation(
                    session,
                    stored.user_id,
                    stored.session_id,
                    RevocationReason.REFRESH_TOKEN_REUSED,
                    now,
                )
            elif outcome is RefreshOutcome.ROTATE:
                await session_store.mark_rotated(session, presented_digest, now)
                new_token = new_opaque_token(REFRESH_TOKEN_PREFIX)
                session_expires_at = stored.presented.session_expires_at
                await session_store.add_refresh_token(
                    session,
                    digest(new_token),
                    stored.session_id,
                    now,
                    self.refresh_policy.token_expiry(now, session_expires_at),
                )
                await session_store.touch_session(session, stored.session_id, now)
                pair = self._pair(stored.user_id, stored.session_id, new_token, now)
        if pair is not None:
            return pair
        if outcome is RefreshOutcome.REUSED:
            self.on_outbox_write()
        raise RefreshRefused(outcome)

    async def _require_active_session(self, session: AsyncSession, user: UserPrincipal) -> None:
        active = await session_store.session_is_active(
            session, user.session_id, user.user_id, self.clock()
        )
        if not active:
            raise SessionEnded()

    async def profile(self, user: UserPrincipal) -> user_store.UserRow:
        async with self.db.session() as session:
            await self._require_active_session(session, user)
            row = await user_store.user_by_id(session, user.user_id)
        if row is None:
            raise SessionEnded()
        return row

    async def sign_out(self, user: UserPrincipal) -> None:
        now = self.clock()
        async with self.db.session() as session:
            await self._require_active_session(session, user)
            await session_store.revoke_session(session, user.session_id, now, "sign_out")
            await self._publish_revocation(
                session, user.user_id, user.session_id, RevocationReason.SIGN_OUT, now
            )
        self.on_outbox_write()

    async def change_password(
        self, user: UserPrincipal, current_password: str, new_password: str, address: str
    ) -> None:
        self._check_policy(new_password)
        async with self.db.session() as session:
            await self._require_active_session(session, user)
            row = await user_store.user_by_id(session, user.user_id)
            if row is None:
                raise SessionEnded()
            # A stolen access token must not buy unlimited guesses at the password: the
            # current password counts in the same counters as a sign-in.
            subjects = _throttle_subjects(row.email, address)
            records = await throttle_store.load_records(session, subjects)
        self._refuse_if_throttled(records)
        stored_hash = row.password_hash
        if not await self._hashing(lambda: self.hasher.verify(stored_hash, current_password)):
            await self._count_failure(subjects, self.clock())
            raise WrongPassword()
        new_hash = await self._hashing(lambda: self.hasher.hash(new_password))
        now = self.clock()
        async with self.db.session() as session:
            await throttle_store.record_success(session, subjects[ThrottleScope.PAIR], now)
            await user_store.replace_password_hash(session, user.user_id, new_hash, changed_at=now)
            # Whoever knew the old password may hold a session: every one of them ends.
            ended = await session_store.revoke_user_sessions(
                session, user.user_id, now, "password_changed"
            )
            for session_id in ended:
                await self._publish_revocation(
                    session, user.user_id, session_id, RevocationReason.PASSWORD_CHANGED, now
                )
        self.on_outbox_write()

    async def delete_account(self, user: UserPrincipal) -> None:
        now = self.clock()
        async with self.db.session() as session:
            await self._require_active_session(session, user)
            deleted = await user_store.delete_user(session, user.user_id)
            if deleted:
                event = user_deleted_event(UserDeleted(user_id=str(user.user_id), deleted_at=now))
                await enqueue(session, self.outbox, self.users_topic, event, key=str(user.user_id))
                # Every session of the account, whichever is still open.
                await self._publish_revocation(
                    session, user.user_id, None, RevocationReason.ACCOUNT_DELETED, now
                )
        self.on_outbox_write()
