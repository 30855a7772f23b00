"""Settings of the tokens service (environment variables ``BACKBEAT_TOKENS_*``)."""

from __future__ import annotations

from pydantic import SecretStr

from backbeat.runtime.settings import ServiceSettings, service_config

# Development only: the settings validator refuses it outside development and test.
_DEV_KEY_RING = "dev1:YmFja2JlYXQtZGV2ZWxvcG1lbnQtb25seS1rZXktMDE="


class TokensSettings(ServiceSettings):
    model_config = service_config("TOKENS")

    port: int = 8002
    database_url: str = "postgresql+asyncpg://tokens:backbeat-dev-tokens@127.0.0.1:5432/tokens"
    # "<key id>:<base64 32-byte key>,..."; the last key seals, every key opens.
    encryption_keys: SecretStr = SecretStr(_DEV_KEY_RING)
    refresh_margin_s: float = 300.0
    refresh_lease_s: float = 15.0
    refresh_retry_budget_s: float = 5.0
    refresh_cooldown_s: float = 30.0
