"""The client-credentials grant: a registered service proves its secret and gets a token for
one audience with the scopes it asked for (or all it may have there)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from backbeat.auth.domain import access_tokens
from backbeat.auth.domain.access_tokens import IssuedToken
from backbeat.auth.domain.opaque_tokens import digest, matches
from backbeat.auth.domain.service_clients import GrantRefusal, ServiceGrant, decide_grant
from backbeat.auth.service.keyring import KeyRing, utc_now
from backbeat.auth.store import clients as client_store
from backbeat.runtime.database import Database

# Compared against when the client id is unknown, so both failures cost the same.
_NO_CLIENT_DIGEST = digest("no such client")


class ServiceTokens:
    def __init__(
        self,
        db: Database,
        *,
        keyring: KeyRing,
        issuer: str,
        ttl_s: int,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.db = db
        self.keyring = keyring
        self.issuer = issuer
        self.ttl = timedelta(seconds=ttl_s)
        self.clock = clock

    async def grant(
        self, client_id: str, client_secret: str, audience: str | None, scope: str | None
    ) -> tuple[IssuedToken, ServiceGrant] | GrantRefusal:
        async with self.db.session() as session:
            stored = await client_store.client_by_id(session, client_id)
        secret_ok = matches(client_secret, stored.secret_digest if stored else _NO_CLIENT_DIGEST)
        if stored is None or not secret_ok:
            return GrantRefusal.INVALID_CLIENT
        decision = decide_grant(stored.client, audience, scope)
        if isinstance(decision, GrantRefusal):
            return decision
        claims = access_tokens.service_access_claims(
            issuer=self.issuer,
            audience=decision.audience,
            client_id=decision.client_id,
            scopes=decision.scopes,
            now=self.clock(),
            ttl=self.ttl,
        )
        return access_tokens.sign(claims, self.keyring.signing_key()), decision
