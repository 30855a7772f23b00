"""Settings read one prefix per service and refuse development secrets outside development."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from backbeat.runtime.settings import (
    Environment,
    ServiceSettings,
    service_config,
)


class ExampleSettings(ServiceSettings):
    model_config = service_config("EXAMPLE")
    port: int = 8999
    signing_secret: SecretStr = SecretStr("dev-only-secret")
    database_url: str = "postgresql+asyncpg://example:dev-password@127.0.0.1/example"


def test_fields_are_read_from_the_service_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBEAT_EXAMPLE_PORT", "9100")
    monkeypatch.setenv("BACKBEAT_KAFKA_BOOTSTRAP", "kafka.internal:9092")
    settings = ExampleSettings()
    assert settings.port == 9100
    assert settings.kafka_bootstrap == "kafka.internal:9092"


def test_the_service_prefix_wins_over_the_shared_kafka_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BACKBEAT_KAFKA_BOOTSTRAP", "shared:9092")
    monkeypatch.setenv("BACKBEAT_EXAMPLE_KAFKA_BOOTSTRAP", "own:9092")
    assert ExampleSettings().kafka_bootstrap == "own:9092"


def test_development_accepts_the_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBEAT_ENVIRONMENT", "development")
    assert ExampleSettings().signing_secret.get_secret_value() == "dev-only-secret"


def test_production_refuses_the_default_secret_and_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BACKBEAT_ENVIRONMENT", "production")
    monkeypatch.setenv("BACKBEAT_EXAMPLE_DATABASE_URL", "postgresql+asyncpg://x:y@db/example")
    with pytest.raises(ValidationError, match="BACKBEAT_EXAMPLE_SIGNING_SECRET") as info:
        ExampleSettings()
    assert "dev-only-secret" not in str(info.value)


def test_production_refuses_the_development_database_url_without_echoing_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BACKBEAT_ENVIRONMENT", "production")
    monkeypatch.setenv("BACKBEAT_EXAMPLE_SIGNING_SECRET", "a-real-secret")
    with pytest.raises(ValidationError, match="BACKBEAT_EXAMPLE_DATABASE_URL") as info:
        ExampleSettings()
    assert "dev-password" not in str(info.value)
    assert "a-real-secret" not in str(info.value)


def test_production_starts_with_a_secret_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBEAT_ENVIRONMENT", "production")
    monkeypatch.setenv("BACKBEAT_EXAMPLE_SIGNING_SECRET", "a-real-secret")
    monkeypatch.setenv("BACKBEAT_EXAMPLE_DATABASE_URL", "postgresql+asyncpg://x:y@db/example")
    settings = ExampleSettings()
    assert settings.environment is Environment.PRODUCTION
    assert "a-real-secret" not in repr(settings)
