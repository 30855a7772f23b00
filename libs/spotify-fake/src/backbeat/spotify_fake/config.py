"""Settings of the Spotify fake: seed, listeners, clock, token lifetimes, rate limit."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

# 2026-01-05T08:00:00Z, a Monday morning: where a manual clock starts unless told otherwise.
DEFAULT_START_MS = 1_767_600_000_000


class FakeConfig(BaseModel):
    """Everything that shapes the fake's behaviour; the same config gives the same fake."""

    seed: int = 1
    listeners: int = Field(default=0, ge=0, description="simulated users created at start")
    catalogue: Literal["standard", "short"] = Field(
        default="standard", description="short: tracks of 40-150 s, for many plays a minute"
    )
    free_listener_share: float = Field(default=0.2, ge=0.0, le=1.0)
    clock: Literal["real", "manual"] = "real"
    start_ms: int = DEFAULT_START_MS
    rate_limit: int | None = Field(
        default=600, ge=1, description="Web API calls per app per window; None disables"
    )
    rate_window_s: float = Field(default=30.0, gt=0)
    access_token_ttl_s: int = Field(default=3600, gt=0)
    refresh_token_lifetime_s: int = Field(default=182 * 24 * 3600, gt=0)
    authorization_code_ttl_s: int = Field(default=600, gt=0)
    rotate_refresh_tokens: bool = False
    # Apps registered at start with known credentials: "client_id:client_secret:redirect_uri".
    apps: list[str] = Field(default_factory=list)
    public_url: str = Field(
        default="http://127.0.0.1:8090", description="base of the href fields in responses"
    )

    @field_validator("apps")
    @classmethod
    def _app_specs(cls, specs: list[str]) -> list[str]:
        for spec in specs:
            client_id, _, rest = spec.partition(":")
            client_secret, _, redirect_uri = rest.partition(":")
            if not (client_id and client_secret and redirect_uri):
                raise ValueError("an app is written client_id:client_secret:redirect_uri")
        return specs
