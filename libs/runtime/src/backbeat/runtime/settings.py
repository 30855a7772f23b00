"""Settings base: one env prefix per service, no working secret outside development."""

from __future__ import annotations

import os
from enum import StrEnum
from typing import ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class InsecureDefaultSecret(ValueError):
    """A secret still has its development default in an environment that must not run with it."""


def _shared_kafka_bootstrap() -> str:
    # One broker address for the whole stack; a service-prefixed variable still wins.
    return os.environ.get("BACKBEAT_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


def _shared_environment() -> Environment:
    return Environment(os.environ.get("BACKBEAT_ENVIRONMENT", Environment.DEVELOPMENT))


class ServiceSettings(BaseSettings):
    """Base of every service's settings.

    Subclasses set ``model_config = service_config("AUTH")`` so that every field is read from
    ``BACKBEAT_AUTH_<FIELD>``. Fields typed ``SecretStr``, and ``*database_url`` fields (whose
    defaults hold the development role's password), may carry a development default; the
    validator refuses to start with that default outside development and test.
    """

    # Errors never echo the input: it holds every secret read from the environment.
    model_config = SettingsConfigDict(
        env_prefix="BACKBEAT_", extra="ignore", hide_input_in_errors=True
    )

    service_name: ClassVar[str] = "backbeat"

    environment: Environment = Field(default_factory=_shared_environment)
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    kafka_bootstrap: str = Field(default_factory=_shared_kafka_bootstrap)

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> ServiceSettings:
        if self.environment in (Environment.DEVELOPMENT, Environment.TEST):
            return self
        prefix = self.model_config.get("env_prefix", "")
        offenders = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, SecretStr) and isinstance(field.default, SecretStr):
                if value.get_secret_value() == field.default.get_secret_value():
                    offenders.append(f"{prefix}{name}".upper())
            # A database URL's default carries the development role's password.
            elif name.endswith("database_url") and value == field.default:
                offenders.append(f"{prefix}{name}".upper())
        if offenders:
            raise InsecureDefaultSecret(
                f"{', '.join(offenders)} must be set: development defaults are refused in "
                f"the {self.environment.value} environment"
            )
        return self


def service_config(service: str) -> SettingsConfigDict:
    """Settings config reading ``BACKBEAT_<SERVICE>_*`` variables."""
    return SettingsConfigDict(
        env_prefix=f"BACKBEAT_{service.upper()}_", extra="ignore", hide_input_in_errors=True
    )
