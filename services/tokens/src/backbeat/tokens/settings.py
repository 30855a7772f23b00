"""Settings of the tokens service (environment variables ``BACKBEAT_TOKENS_*``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import SecretStr

from backbeat.authn.settings import TokenPolicySettings
from backbeat.events import topics
from backbeat.runtime.settings import ServiceSettings, service_config

# Development only: the settings validator refuses these outside development and test.
_DEV_KEY_RING = "dev1:YmFja2JlYXQtZGV2ZWxvcG1lbnQtb25seS1rZXktMDE="
_DEV_SPOTIFY_SECRET = "backbeat-dev-spotify-secret"  # noqa: S105 - refused outside development


class TokensSettings(ServiceSettings, TokenPolicySettings):
    model_config = service_config("TOKENS")

    port: int = 8002
    connections_topic: str = topics.SPOTIFY_CONNECTIONS
    connections_partitions: int = 12
    # Account deletions (auth's user.deleted), read in a group of this service's own: a
    # deleted user's credentials and audit trail are erased and the user is tombstoned.
    users_topic: str = topics.AUTH_USERS
    users_partitions: int = 6
    erasure_consumer_group: str = "backbeat-tokens-erasure"
    database_url: str = (
        "postgresql+asyncpg://tokens:backbeat-dev-tokens@127.0.0.1:5432/tokens?ssl=disable"
    )
    # "<key id>:<base64 32-byte key>,..."; the last key seals, every key opens.
    encryption_keys: SecretStr = SecretStr(_DEV_KEY_RING)

    # Who signs the tokens this service accepts.
    auth_issuer: str = "http://127.0.0.1:8001"
    auth_jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    user_audience: str = "backbeat"
    service_audience: str = "tokens"
    # The scope a service token needs to be handed a user's Spotify access token.
    handout_scope: str = "tokens:read"

    # The Spotify app. Point the two base URLs at Spotify to leave the fake behind.
    spotify_client_id: str = "backbeat-dev"
    spotify_client_secret: SecretStr = SecretStr(_DEV_SPOTIFY_SECRET)
    spotify_accounts_url: str = "http://127.0.0.1:8090"
    spotify_api_url: str = "http://127.0.0.1:8090"
    spotify_redirect_uri: str = "http://127.0.0.1:8000/api/spotify/callback"
    # Where browsers reach Spotify's /authorize, when that differs from where this service
    # reaches the accounts service (containers: the fake's published port vs its service name).
    spotify_authorize_url: str | None = None
    spotify_scopes: str = (
        "user-read-playback-state user-modify-playback-state user-read-currently-playing "
        "user-read-recently-played"
    )
    # Where the browser lands after the connect flow, with the outcome in the query.
    web_ui_url: str = "http://127.0.0.1:8000/"
    connect_state_ttl_s: int = 600
    # The cookie binding a connect flow to the browser that started it: Secure and
    # ``__Host-``-prefixed, or neither (browsers refuse both over plain http). Unset: Secure
    # exactly when the redirect URI, where browsers return and send it, is https.
    connect_cookie_secure: bool | None = None

    @property
    def connect_cookie_is_secure(self) -> bool:
        if self.connect_cookie_secure is not None:
            return self.connect_cookie_secure
        return urlsplit(self.spotify_redirect_uri).scheme == "https"

    # At most how long an instance reuses a token it read, before reading the row again (a
    # user asked for steadily is re-read in the background from half of it); also how long
    # another instance's disconnect or refresh can take to be seen here.
    handout_cache_s: float = 5.0
    refresh_margin_s: float = 300.0
    refresh_lease_s: float = 15.0
    refresh_retry_budget_s: float = 5.0
    refresh_cooldown_s: float = 30.0
