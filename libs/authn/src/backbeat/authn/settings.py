"""Settings every service that accepts user tokens shares: the longest lifetime it accepts
and where revocations come from. Mixed into the service's settings, so they read as
``BACKBEAT_<SERVICE>_MAX_TOKEN_LIFETIME_S``, ``BACKBEAT_<SERVICE>_REVOCATIONS_TOPIC``, ..."""

from __future__ import annotations

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from backbeat.authn.revocation_feed import RevocationFeed, revocations_topic_spec
from backbeat.authn.revocations import RevocationList
from backbeat.authn.service_tokens import ServiceTokenClient
from backbeat.events import topics
from backbeat.runtime.kafka import TopicSpec

# Revocations are kept this much longer than the longest token: the verifier's leeway and
# clock skew between auth and the verifier.
REVOCATION_SKEW_S = 60


class TokenPolicySettings(BaseSettings):
    # The longest lifetime (exp - iat) of a user access token this service accepts; auth
    # issues them for at most 15 minutes. A revoked session is remembered this long.
    max_token_lifetime_s: int = Field(default=900, ge=60, le=24 * 3600)
    # Likewise for service tokens (auth issues them for at most an hour).
    max_service_token_lifetime_s: int = Field(default=3600, ge=60, le=24 * 3600)
    # Where auth publishes ended sessions; every instance reads it whole.
    revocations_topic: str = topics.AUTH_REVOCATIONS
    revocations_partitions: int = Field(default=3, ge=1)
    # How long the start waits for the revocations to be read before serving (not ready).
    revocations_wait_s: float = Field(default=15.0, ge=0)

    def revocations_topic_spec(self) -> TopicSpec:
        return revocations_topic_spec(
            self.revocations_topic,
            max_token_lifetime_s=self.max_token_lifetime_s,
            partitions=self.revocations_partitions,
        )

    def revocation_feed(self, bootstrap: str, *, client_id: str) -> RevocationFeed:
        """A feed filling a new list that keeps each revocation as long as it matters."""
        revocations = RevocationList(retain_s=self.max_token_lifetime_s + REVOCATION_SKEW_S)
        return RevocationFeed(
            bootstrap, self.revocations_topic_spec(), revocations, client_id=client_id
        )


class HandOutClientSettings(BaseSettings):
    """Settings of a service that asks tokens for users' Spotify access tokens, with a
    service token of its own from auth (client credentials). The service gives ``client_id``
    and ``client_secret`` their defaults."""

    auth_token_url: str = "http://127.0.0.1:8001/oauth/token"  # noqa: S105 - a URL
    client_id: str
    client_secret: SecretStr
    tokens_url: str = "http://127.0.0.1:8002"
    tokens_audience: str = "tokens"
    tokens_scope: str = "tokens:read"

    def service_token_client(self, *, http: httpx.AsyncClient | None = None) -> ServiceTokenClient:
        """The client that gets (and renews) this service's token for tokens' hand-out."""
        return ServiceTokenClient(
            self.auth_token_url,
            client_id=self.client_id,
            client_secret=self.client_secret.get_secret_value(),
            audience=self.tokens_audience,
            scopes=[self.tokens_scope],
            http=http,
        )
