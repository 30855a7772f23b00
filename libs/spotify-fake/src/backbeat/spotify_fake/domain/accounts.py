"""Spotify's accounts service as plain state: apps, consent, authorization codes, tokens.

Follows what Spotify's accounts service does for the authorization-code grant (RFC 6749 with
PKCE, RFC 7636): exact redirect URI match, single-use codes, Basic auth for confidential
apps, `client_id` + `code_verifier` for public ones, access tokens that expire and refresh
tokens that die with their grant (revocation or its 6-month lifetime).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field

# The scopes Spotify knows (Web API reference, "Scopes").
KNOWN_SCOPES = frozenset(
    {
        "app-remote-control",
        "playlist-modify-private",
        "playlist-modify-public",
        "playlist-read-collaborative",
        "playlist-read-private",
        "streaming",
        "ugc-image-upload",
        "user-follow-modify",
        "user-follow-read",
        "user-library-modify",
        "user-library-read",
        "user-modify-playback-state",
        "user-read-currently-playing",
        "user-read-email",
        "user-read-playback-position",
        "user-read-playback-state",
        "user-read-private",
        "user-read-recently-played",
        "user-top-read",
        "user-personalized",
        "user-soa-link",
        "user-soa-unlink",
        "soa-manage-entitlements",
        "soa-manage-partner",
        "soa-create-partner",
    }
)

# RFC 7636 section 4.1 and 4.2: verifier alphabet and lengths; an S256 challenge is 43 chars.
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")


class OAuthError(Exception):
    """An OAuth error as the token endpoint reports it (`error`, `error_description`)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


class AuthorizeError(Exception):
    """A refused authorization request. Redirectable ones go back to the app with `error`;
    the others (unknown app, unregistered redirect URI) must not redirect anywhere."""

    def __init__(self, error: str, description: str, *, redirectable: bool) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.redirectable = redirectable


class AccessTokenRejected(Exception):
    """A bearer token the Web API does not accept; `message` is Spotify's wording."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class App:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    name: str


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    state: str | None
    code_challenge: str | None


@dataclass(slots=True)
class _Code:
    request: AuthorizationRequest
    user_id: str
    issued_at_ms: int
    used: bool = False


@dataclass(slots=True)
class Grant:
    """One user's consent to one app; its refresh token is the current one of the chain."""

    id: int
    client_id: str
    user_id: str
    scopes: frozenset[str]
    authorized_at_ms: int
    public_client: bool
    refresh_token: str
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    grant_id: int
    client_id: str
    user_id: str
    scopes: frozenset[str]
    expires_at_ms: int


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    """What the token endpoint returns; refresh_token is None when it is not sent."""

    access_token: str
    expires_in: int
    scope: str
    refresh_token: str | None

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        return body


@dataclass(frozen=True, slots=True)
class ClientAuthentication:
    """How the caller of the token endpoint identified itself."""

    client_id: str
    client_secret: str | None


@dataclass(frozen=True, slots=True)
class AccountsPolicy:
    access_token_ttl_ms: int = 3_600_000
    # Spotify documents no lifetime; six months matches what apps observe in practice.
    refresh_token_lifetime_ms: int = 182 * 24 * 3_600_000
    code_ttl_ms: int = 10 * 60_000
    rotate_refresh_tokens: bool = False


@dataclass(slots=True)
class AccountsService:
    """Apps, grants and tokens. `new_secret` makes every id and token (injected for tests)."""

    policy: AccountsPolicy
    new_secret: Callable[[], str]
    apps: dict[str, App] = field(default_factory=dict)
    grants: dict[int, Grant] = field(default_factory=dict)
    _codes: dict[str, _Code] = field(default_factory=dict)
    _access_tokens: dict[str, AccessToken] = field(default_factory=dict)
    _refresh_tokens: dict[str, int] = field(default_factory=dict)

    def register_app(
        self,
        redirect_uris: tuple[str, ...],
        name: str = "Backbeat",
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> App:
        """A new app; ``client_id``/``client_secret`` pin known credentials (a dev stack's)."""
        # Spotify's client ids and secrets are 32 hex digits.
        app = App(
            client_id=client_id or hashlib.sha256(self.new_secret().encode()).hexdigest()[:32],
            client_secret=client_secret
            or hashlib.sha256(self.new_secret().encode()).hexdigest()[:32],
            redirect_uris=redirect_uris,
            name=name,
        )
        self.apps[app.client_id] = app
        return app

    # -- /authorize ----------------------------------------------------------------------

    def check_authorization_request(
        self,
        *,
        client_id: str | None,
        redirect_uri: str | None,
        response_type: str | None,
        scope: str | None,
        state: str | None,
        code_challenge: str | None,
        code_challenge_method: str | None,
    ) -> AuthorizationRequest:
        app = self.apps.get(client_id or "")
        if app is None:
            raise AuthorizeError("invalid_client", "Invalid client", redirectable=False)
        if redirect_uri is None or redirect_uri not in app.redirect_uris:
            raise AuthorizeError("invalid_client", "Invalid redirect URI", redirectable=False)
        if response_type != "code":
            raise AuthorizeError(
                "unsupported_response_type", "response_type must be code", redirectable=True
            )
        scopes = frozenset((scope or "").split())
        unknown = scopes - KNOWN_SCOPES
        if unknown:
            raise AuthorizeError("invalid_scope", "Unknown scope requested", redirectable=True)
        if code_challenge_method is not None or code_challenge is not None:
            if code_challenge_method != "S256":
                raise AuthorizeError(
                    "invalid_request", "code_challenge_method must be S256", redirectable=True
                )
            if code_challenge is None or not _CHALLENGE.match(code_challenge):
                raise AuthorizeError("invalid_request", "Invalid code_challenge", redirectable=True)
        return AuthorizationRequest(
            client_id=app.client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=state,
            code_challenge=code_challenge,
        )

    def grant_consent(self, request: AuthorizationRequest, user_id: str, now_ms: int) -> str:
        """The user agreed: an authorization code for the app to redeem."""
        code = self.new_secret()
        self._codes[code] = _Code(request=request, user_id=user_id, issued_at_ms=now_ms)
        return code

    # -- /api/token ----------------------------------------------------------------------

    def redeem_code(
        self,
        auth: ClientAuthentication,
        *,
        code: str | None,
        redirect_uri: str | None,
        code_verifier: str | None,
        now_ms: int,
    ) -> IssuedTokens:
        app = self._authenticate(auth)
        if not code:
            raise OAuthError("invalid_request", "code must be supplied")
        issued = self._codes.get(code)
        if issued is None or issued.request.client_id != app.client_id:
            raise OAuthError("invalid_grant", "Invalid authorization code")
        if issued.used:
            raise OAuthError("invalid_grant", "Invalid authorization code")
        # Single use: a code is burnt by the first attempt, successful or not.
        issued.used = True
        if now_ms - issued.issued_at_ms > self.policy.code_ttl_ms:
            raise OAuthError("invalid_grant", "Authorization code expired")
        if redirect_uri != issued.request.redirect_uri:
            raise OAuthError("invalid_grant", "Invalid redirect URI")
        challenge = issued.request.code_challenge
        if challenge is not None:
            if code_verifier is None:
                raise OAuthError("invalid_request", "code_verifier required")
            if not _VERIFIER.match(code_verifier) or not hmac.compare_digest(
                s256_challenge(code_verifier), challenge
            ):
                raise OAuthError("invalid_grant", "code_verifier was incorrect")
        elif auth.client_secret is None:
            # A public client proves itself only through PKCE.
            raise OAuthError("invalid_client", "Invalid client", status=401)
        grant = Grant(
            id=len(self.grants) + 1,
            client_id=app.client_id,
            user_id=issued.user_id,
            scopes=issued.request.scopes,
            authorized_at_ms=now_ms,
            public_client=auth.client_secret is None,
            refresh_token=self.new_secret(),
        )
        self.grants[grant.id] = grant
        self._refresh_tokens[grant.refresh_token] = grant.id
        access = self._issue_access_token(grant, now_ms)
        return IssuedTokens(
            access_token=access.token,
            expires_in=self.policy.access_token_ttl_ms // 1000,
            scope=" ".join(sorted(grant.scopes)),
            refresh_token=grant.refresh_token,
        )

    def refresh(
        self, auth: ClientAuthentication, *, refresh_token: str | None, now_ms: int
    ) -> IssuedTokens:
        app = self._authenticate(auth)
        if not refresh_token:
            raise OAuthError("invalid_request", "refresh_token must be supplied")
        grant_id = self._refresh_tokens.get(refresh_token)
        grant = self.grants.get(grant_id) if grant_id is not None else None
        if grant is None or grant.client_id != app.client_id:
            raise OAuthError("invalid_grant", "Invalid refresh token")
        if grant.refresh_token != refresh_token:
            raise OAuthError("invalid_grant", "Invalid refresh token")
        if grant.revoked:
            raise OAuthError("invalid_grant", "Refresh token revoked")
        if now_ms - grant.authorized_at_ms > self.policy.refresh_token_lifetime_ms:
            raise OAuthError("invalid_grant", "Refresh token expired")
        if auth.client_secret is None and not grant.public_client:
            raise OAuthError("invalid_client", "Invalid client", status=401)
        new_refresh_token: str | None = None
        if self.policy.rotate_refresh_tokens:
            del self._refresh_tokens[grant.refresh_token]
            new_refresh_token = self.new_secret()
            grant.refresh_token = new_refresh_token
            self._refresh_tokens[new_refresh_token] = grant.id
        access = self._issue_access_token(grant, now_ms)
        return IssuedTokens(
            access_token=access.token,
            expires_in=self.policy.access_token_ttl_ms // 1000,
            scope=" ".join(sorted(grant.scopes)),
            refresh_token=new_refresh_token,
        )

    # -- the Web API's view ---------------------------------------------------------------

    def authenticate_bearer(self, token: str, now_ms: int) -> AccessToken:
        access = self._access_tokens.get(token)
        if access is None or self.grants[access.grant_id].revoked:
            raise AccessTokenRejected("Invalid access token")
        if now_ms >= access.expires_at_ms:
            raise AccessTokenRejected("The access token expired")
        return access

    def revoke(self, user_id: str, client_id: str | None = None) -> int:
        """The user removes the app's access (all apps when client_id is None)."""
        revoked = 0
        for grant in self.grants.values():
            if grant.user_id == user_id and client_id in (None, grant.client_id):
                if not grant.revoked:
                    revoked += 1
                grant.revoked = True
        return revoked

    # -- internals -----------------------------------------------------------------------

    def _authenticate(self, auth: ClientAuthentication) -> App:
        app = self.apps.get(auth.client_id)
        if app is None:
            raise OAuthError("invalid_client", "Invalid client", status=401)
        if auth.client_secret is not None and not hmac.compare_digest(
            auth.client_secret.encode(), app.client_secret.encode()
        ):
            raise OAuthError("invalid_client", "Invalid client secret", status=401)
        return app

    def _issue_access_token(self, grant: Grant, now_ms: int) -> AccessToken:
        access = AccessToken(
            token=self.new_secret(),
            grant_id=grant.id,
            client_id=grant.client_id,
            user_id=grant.user_id,
            scopes=grant.scopes,
            expires_at_ms=now_ms + self.policy.access_token_ttl_ms,
        )
        self._access_tokens[access.token] = access
        return access


def s256_challenge(code_verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
