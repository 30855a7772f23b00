"""The gateway's settings, read from ``BACKBEAT_GATEWAY_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr

from backbeat.authn.settings import TokenPolicySettings
from backbeat.gateway.domain.rate_limit import RateLimit
from backbeat.gateway.domain.routes import Upstream
from backbeat.runtime.settings import ServiceSettings, service_config


class GatewaySettings(ServiceSettings, TokenPolicySettings):
    model_config = service_config("GATEWAY")

    port: int = 8000

    # The services behind the gateway.
    auth_url: str = "http://127.0.0.1:8001"
    tokens_url: str = "http://127.0.0.1:8002"
    playback_url: str = "http://127.0.0.1:8003"

    # Who signs the user tokens checked at the edge.
    auth_issuer: str = "http://127.0.0.1:8001"
    auth_jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    user_audience: str = "backbeat"

    # Per signed-in user and per client address: sustained requests per second, and the burst
    # allowed on top. A page load of the web UI makes about ten requests at once. Counted in
    # this instance's memory: with N instances sharing the clients, set 1/N of the limit.
    user_rate_per_s: float = Field(default=20.0, gt=0)
    user_burst: int = Field(default=60, ge=1)
    address_rate_per_s: float = Field(default=50.0, gt=0)
    address_burst: int = Field(default=200, ge=1)
    rate_limit_max_keys: int = Field(default=100_000, ge=100)
    # Per client address, for sign-up, sign-in and password change (each costs auth an
    # argon2id hash): a person signs in a few times a day; a crowd behind one address
    # still gets a burst of 20 and 2 a second after it.
    password_rate_per_s: float = Field(default=2.0, gt=0)
    password_burst: int = Field(default=20, ge=1)

    # Request bodies of the public API are small JSON documents.
    max_body_bytes: int = Field(default=64 * 1024, ge=1)

    # Signs the caller's address for the services behind; auth, holding the same value as
    # BACKBEAT_AUTH_EDGE_SECRET, counts sign-in failures by that address.
    edge_secret: SecretStr = Field(default=SecretStr("backbeat-dev-edge-secret"), min_length=16)

    # Connecting to a service; then waiting for its response head (504 past that).
    connect_timeout_s: float = Field(default=2.0, gt=0)
    response_timeout_s: float = Field(default=10.0, gt=0)
    # Silence allowed on a live stream before the gateway closes it (services send heartbeats).
    stream_idle_timeout_s: float = Field(default=300.0, gt=0)
    # Connections per service, for live streams (one each) and, apart, for other requests.
    max_connections_per_service: int = Field(default=2000, ge=1)

    # Browser origins allowed to call the API from other pages, comma-separated ("" = none:
    # the web UI served here is same-origin and needs no CORS).
    cors_origins: str = ""

    # Prometheus metrics, on a port of their own for the scraper's network, never on the
    # public port. Unset: not served at all.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=0, le=65535)

    # How long a service's OpenAPI document is reused before it is fetched again.
    openapi_cache_s: float = Field(default=60.0, ge=0)

    def upstream_url(self, upstream: Upstream) -> str:
        urls = {
            Upstream.AUTH: self.auth_url,
            Upstream.TOKENS: self.tokens_url,
            Upstream.PLAYBACK: self.playback_url,
        }
        return urls[upstream].rstrip("/")

    @property
    def allowed_origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @property
    def user_limit(self) -> RateLimit:
        return RateLimit(self.user_rate_per_s, self.user_burst)

    @property
    def password_limit(self) -> RateLimit:
        return RateLimit(self.password_rate_per_s, self.password_burst)

    @property
    def address_limit(self) -> RateLimit:
        return RateLimit(self.address_rate_per_s, self.address_burst)
