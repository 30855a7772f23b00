"""The OAuth connect flow: a single-use ``state`` bound to the user and to the browser that
started it, PKCE, and the callback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete

from backbeat.events import topics
from backbeat.runtime.database import Database
from backbeat.spotify.accounts import SpotifyAccounts
from backbeat.spotify.authorization import PkcePair, authorize_url, new_state
from backbeat.spotify.client import SpotifyClient
from backbeat.spotify.errors import SpotifyError
from backbeat.tokens.domain.vault import CredentialField, KeyRing, SealedSecret, open_sealed, seal
from backbeat.tokens.service.connections import store_connection
from backbeat.tokens.service.erasure import AccountErased, refuse_erased
from backbeat.tokens.store.tables import connect_states


class ConnectFailed(Exception):
    """The callback cannot complete; ``code`` goes back to the web UI in the query."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


log = logging.getLogger(__name__)


def _state_hash(state: str) -> bytes:
    return hashlib.sha256(state.encode()).digest()


def browser_binding(state: str) -> str:
    """What the browser that starts a flow keeps (in a cookie) and shows again at the callback.

    A hash of the state, not a secret: whoever holds the authorize URL can compute it. What
    it proves is that the callback comes from the browser that received the connect
    response, since no one can put a cookie into another person's browser; without it,
    someone could send their own authorize URL to a victim and have the victim's Spotify
    account linked to theirs (login CSRF, RFC 6749 section 10.12). Hashed, with its own
    label, so the cookie never repeats the state nor the key its row is stored under.
    """
    digest = hashlib.sha256(b"backbeat.connect.browser\x00" + state.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class StartedFlow:
    # Where the browser goes to consent; what it must hold when it comes back.
    authorize_url: str
    browser_binding: str


@dataclass(frozen=True)
class ConnectFlow:
    database: Database
    keys: KeyRing
    accounts: SpotifyAccounts
    spotify: SpotifyClient
    scopes: tuple[str, ...]
    state_ttl: timedelta
    # Base URL of /authorize as browsers see it; None: the client's accounts base URL.
    authorize_base_url: str | None = None
    connections_topic: str = topics.SPOTIFY_CONNECTIONS

    async def start(self, user_id: str, now: datetime) -> StartedFlow:
        """Remember a new state and PKCE verifier for ``user_id``; the authorize URL, and the
        binding the starting browser keeps for the callback."""
        state, pkce = new_state(), PkcePair.generate()
        sealed = seal(self.keys, user_id, CredentialField.CODE_VERIFIER, pkce.verifier)
        async with self.database.session() as session:
            # A deleted account (its token may still be valid) starts nothing.
            await refuse_erased(session, user_id)
            # Expired flows are swept as new ones start; nothing else needs them.
            await session.execute(delete(connect_states).where(connect_states.c.expires_at < now))
            await session.execute(
                connect_states.insert().values(
                    state_hash=_state_hash(state),
                    user_id=user_id,
                    key_id=sealed.key_id,
                    code_verifier=sealed.blob,
                    expires_at=now + self.state_ttl,
                )
            )
        settings = self.accounts.settings
        if self.authorize_base_url:
            settings = settings.model_copy(update={"accounts_base_url": self.authorize_base_url})
        return StartedFlow(
            authorize_url(settings, state=state, code_challenge=pkce.challenge, scopes=self.scopes),
            browser_binding(state),
        )

    async def abandon(self, state: str) -> None:
        """Spend a state whose flow the user declined on Spotify's page."""
        async with self.database.session() as session:
            await session.execute(
                delete(connect_states).where(connect_states.c.state_hash == _state_hash(state))
            )

    async def finish(self, code: str, state: str, now: datetime, *, browser: str | None) -> str:
        """Consume the state, exchange the code, store the credentials; the user id.

        ``browser`` is the binding the calling browser holds for this state (None: none). A
        browser without the right one did not start the flow: it is refused before the code
        is exchanged, and the state is spent all the same, so the code Spotify issued for it
        can never complete the flow, from any browser.
        """
        async with self.database.session() as session:
            row = (
                await session.execute(
                    delete(connect_states)
                    .where(connect_states.c.state_hash == _state_hash(state))
                    .returning(*connect_states.c)
                )
            ).first()
        if row is None:
            raise ConnectFailed("invalid_state", "unknown or already used state")
        expected = browser_binding(state).encode()
        if browser is None or not hmac.compare_digest(browser.encode(), expected):
            log.warning(
                "connect callback refused: not the browser that started the flow",
                extra={"user_id": row.user_id},
            )
            raise ConnectFailed(
                "browser_mismatch", "the connect flow was started in another browser"
            )
        if row.expires_at < now:
            raise ConnectFailed("expired_state", "the connect flow took too long; start again")
        verifier = open_sealed(
            self.keys,
            row.user_id,
            CredentialField.CODE_VERIFIER,
            SealedSecret(row.key_id, bytes(row.code_verifier)),
        )
        try:
            grant = await self.accounts.exchange_code(code, code_verifier=verifier)
            profile = await self.spotify.current_user(grant.access_token.get_secret_value())
        except SpotifyError as error:
            raise ConnectFailed(
                "spotify_refused", f"Spotify refused the connection: {error}"
            ) from error
        try:
            await store_connection(
                self.database,
                self.keys,
                user_id=row.user_id,
                spotify_user_id=profile.id,
                spotify_client_id=self.accounts.settings.client_id,
                grant=grant,
                now=now,
                topic=self.connections_topic,
            )
        except AccountErased as erased:
            raise ConnectFailed("account_deleted", "the account was deleted") from erased
        return str(row.user_id)
