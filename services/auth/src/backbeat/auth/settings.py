"""Auth's settings, read from ``BACKBEAT_AUTH_*`` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from backbeat.authn.settings import TokenPolicySettings
from backbeat.events import topics
from backbeat.runtime.settings import ServiceSettings, service_config

# OWASP Password Storage Cheat Sheet, argon2id minimum: 19 MiB memory, 2 iterations, 1 lane.
OWASP_MIN_MEMORY_KIB = 19 * 1024
OWASP_MIN_TIME_COST = 2


class AuthSettings(ServiceSettings, TokenPolicySettings):
    model_config = service_config("AUTH")

    port: int = 8001
    database_url: str = (
        "postgresql+asyncpg://auth:backbeat-dev-auth@127.0.0.1:5432/auth?ssl=disable"
    )
    database_pool_size: int = 10

    issuer: str = "http://127.0.0.1:8001"
    # Audience of user access tokens: every Backbeat service that serves users accepts it.
    user_token_audience: str = "backbeat"  # noqa: S105 - an audience name
    # The audience of service tokens sent to auth's own internal endpoints.
    service_audience: str = "auth"
    access_token_ttl_s: int = Field(default=600, ge=300, le=900)
    service_token_ttl_s: int = Field(default=600, ge=60, le=3600)
    refresh_idle_ttl_s: int = Field(default=14 * 24 * 3600, gt=0)
    refresh_absolute_ttl_s: int = Field(default=60 * 24 * 3600, gt=0)

    # Signing keys are stored encrypted in the database under a key derived from this secret.
    key_encryption_secret: SecretStr = SecretStr("backbeat-dev-auth-key-encryption")
    # A new signing key is made when the newest is older than this; 0 turns it off (rotate
    # with ``python -m backbeat.auth.keys rotate`` instead).
    key_rotation_interval_s: int = Field(default=30 * 24 * 3600, ge=0)
    # How often an instance rereads the key table (to pick up a rotation done elsewhere).
    key_reload_interval_s: float = Field(default=30.0, gt=0)
    # A key leaves the JWKS this long after the last token it signed expired (clock skew).
    key_retirement_grace_s: int = Field(default=60, ge=0)
    jwks_max_age_s: int = Field(default=300, ge=0)

    password_min_length: int = Field(default=8, ge=8)
    password_max_length: int = Field(default=128, le=1024)
    argon2_memory_kib: int = Field(default=OWASP_MIN_MEMORY_KIB, ge=OWASP_MIN_MEMORY_KIB)
    argon2_time_cost: int = Field(default=OWASP_MIN_TIME_COST, ge=OWASP_MIN_TIME_COST)
    argon2_parallelism: int = Field(default=1, ge=1)
    # Hashes running at once: each holds argon2_memory_kib, so this bounds memory too.
    password_hash_concurrency: int = Field(default=4, ge=1)

    # Wrong passwords (at sign-in or password change) per (account, address) allowed before
    # delays start; the delay then doubles per failure up to the cap.
    throttle_pair_free_failures: int = Field(default=5, ge=1)
    throttle_pair_max_delay_s: int = Field(default=900, ge=1)
    # Failures per account from every address before its (short, capped) delay starts. It
    # holds only addresses that failed at the account themselves, never one the owner signed
    # in from: a spread-out attack slows down without locking the real user out.
    throttle_account_free_failures: int = Field(default=50, ge=1)
    throttle_account_max_delay_s: int = Field(default=30, ge=1)
    # Failures per address over every account (credential stuffing from one place). An
    # address is a whole IPv6 /64, what one subscriber holds; many people share one IPv4
    # address behind NAT, hence the allowance, and the rule spares an account's known address.
    throttle_address_free_failures: int = Field(default=100, ge=1)
    throttle_address_max_delay_s: int = Field(default=900, ge=1)
    # Failures older than this are forgotten.
    throttle_window_s: int = Field(default=3600, ge=1)
    # The caller's address is the one the gateway signs with this secret (the gateway's
    # BACKBEAT_GATEWAY_EDGE_SECRET), else the connection's own: never a header a caller sets.
    edge_secret: SecretStr = Field(default=SecretStr("backbeat-dev-edge-secret"), min_length=16)
    # While the secret rotates: set the new one on auth with the old one here, then the new
    # one on the gateway, then drop this.
    edge_previous_secret: SecretStr | None = Field(default=None, min_length=16)
    # How old a signed address may be (either way, for clock skew) before it is ignored.
    edge_attestation_max_age_s: int = Field(default=30, ge=1, le=300)

    outbox_relay_enabled: bool = True
    # Where account deletions are published (through the outbox) for the other services.
    users_topic: str = topics.AUTH_USERS
    # Ended sessions go to ``revocations_topic`` (through the outbox), which the other
    # services read to refuse their access tokens at once.

    @property
    def edge_secrets(self) -> list[bytes]:
        """The secrets a signed client address may be signed with, current first."""
        secrets = [self.edge_secret]
        if self.edge_previous_secret is not None:
            secrets.append(self.edge_previous_secret)
        return [secret.get_secret_value().encode() for secret in secrets]

    @model_validator(mode="after")
    def _lifetimes_fit(self) -> AuthSettings:
        if self.refresh_idle_ttl_s > self.refresh_absolute_ttl_s:
            raise ValueError("refresh_idle_ttl_s cannot exceed refresh_absolute_ttl_s")
        if self.access_token_ttl_s > self.max_token_lifetime_s:
            raise ValueError("access_token_ttl_s cannot exceed max_token_lifetime_s")
        if self.service_token_ttl_s > self.max_service_token_lifetime_s:
            raise ValueError("service_token_ttl_s cannot exceed max_service_token_lifetime_s")
        if self.password_min_length > self.password_max_length:
            raise ValueError("password_min_length cannot exceed password_max_length")
        return self
