"""Where Spotify is and who the app is: base URLs, client id and secret, redirect URI."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class WebApiSettings(BaseModel):
    """Where the Web API is and how to reach it: all that a client calling it with users'
    access tokens needs. It knows nothing of the app's identity or secret."""

    model_config = ConfigDict(frozen=True)

    api_base_url: str = "https://api.spotify.com"
    timeout_s: float = Field(default=10.0, gt=0)
    max_connections: int = Field(default=100, ge=1)
    # Connections per pool: requests are spread over small pools, since the HTTP client's
    # cost per request grows with the pool it draws from (backbeat.spotify.transport).
    pool_shard_size: int = Field(default=8, ge=1)


class SpotifySettings(WebApiSettings):
    """The app as Spotify's accounts service knows it, for the OAuth calls (tokens only).
    Point the base URLs at the fake or at Spotify; nothing else changes.

    `client_secret=None` makes the app a public client: it authenticates with PKCE only.
    """

    client_id: str
    client_secret: SecretStr | None = None
    redirect_uri: str
    accounts_base_url: str = "https://accounts.spotify.com"

    @property
    def is_public_client(self) -> bool:
        return self.client_secret is None

    def web_api(self) -> WebApiSettings:
        """The Web API part alone, for a client that must not hold the app's secret."""
        return WebApiSettings.model_validate(
            {name: getattr(self, name) for name in WebApiSettings.model_fields}
        )
