"""The signing keys an auth instance holds in memory, reloaded from the database.

Rotation is a database write under an advisory lock, so any instance (or the
``python -m backbeat.auth.keys`` command) may rotate and every instance picks the new key up
on its next reload.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from jwt import PyJWK

from backbeat.auth.domain import keys as key_rules
from backbeat.auth.domain.keys import KeySchedule, SigningKey
from backbeat.auth.store import keys as key_store
from backbeat.auth.store.sealing import KeySealer
from backbeat.runtime.database import Database

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class NoSigningKey(RuntimeError):
    """No key is active yet: the key table is empty or every key is scheduled for later."""


async def rotate_keys(
    db: Database,
    sealer: KeySealer,
    schedule: KeySchedule,
    *,
    now: datetime,
    activate_in: timedelta = timedelta(0),
    only_if_due: bool = False,
) -> SigningKey | None:
    """Add a new signing key (active after ``activate_in``) and delete retired ones.

    With ``only_if_due`` nothing happens unless the schedule says a rotation is due; the
    check runs under the lock, so instances rotating together add one key, not several.
    """
    async with db.session() as session:
        await key_store.lock_for_rotation(session)
        existing = await key_store.load_keys(session, sealer)
        if only_if_due and not key_rules.rotation_due(existing, now, schedule):
            return None
        new_key = key_rules.generate_signing_key(now, now + activate_in)
        await key_store.insert_key(session, new_key, sealer)
        retired = key_rules.retired_keys([*existing, new_key], now, schedule)
        await key_store.delete_keys(session, (k.kid for k in retired))
    log.info(
        "signing key added",
        extra={"kid": new_key.kid, "activates_at": new_key.activates_at.isoformat()},
    )
    return new_key


async def delete_retired_keys(
    db: Database, sealer: KeySealer, schedule: KeySchedule, *, now: datetime
) -> list[str]:
    async with db.session() as session:
        await key_store.lock_for_rotation(session)
        existing = await key_store.load_keys(session, sealer)
        retired = [k.kid for k in key_rules.retired_keys(existing, now, schedule)]
        await key_store.delete_keys(session, retired)
    return retired


class KeyRing:
    """Signs with the current key, publishes the JWKS and serves auth's own verifier."""

    def __init__(
        self,
        db: Database,
        sealer: KeySealer,
        schedule: KeySchedule,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.db = db
        self.sealer = sealer
        self.schedule = schedule
        self.clock = clock
        self._keys: list[SigningKey] = []
        self._public: dict[str, PyJWK] = {}

    async def reload(self) -> None:
        async with self.db.session() as session:
            keys = await key_store.load_keys(session, self.sealer)
        self._keys = keys
        self._public = {k.kid: PyJWK(k.public_jwk()) for k in keys}

    async def rotate_if_due(self) -> None:
        await rotate_keys(self.db, self.sealer, self.schedule, now=self.clock(), only_if_due=True)
        await self.reload()

    def signing_key(self) -> SigningKey:
        key = key_rules.signing_key(self._keys, self.clock())
        if key is None:
            raise NoSigningKey("no active signing key")
        return key

    def published(self) -> list[SigningKey]:
        return key_rules.published_keys(self._keys, self.clock(), self.schedule)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.published()]}

    async def get(self, kid: str) -> PyJWK | None:
        """Auth verifies its own tokens with exactly the keys it publishes."""
        if any(k.kid == kid for k in self.published()):
            return self._public.get(kid)
        return None

    async def maintain(self, interval_s: float) -> None:
        """Rotate when due and reload, every ``interval_s``, until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.rotate_if_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The keys in memory keep working; the next round tries again.
                log.exception("signing key maintenance failed")
