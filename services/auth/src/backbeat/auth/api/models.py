"""Request and response bodies of auth's HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from backbeat.auth.service.accounts import normalise_email

# Shape only; whether the address receives mail is not auth's business.
# No control characters: PostgreSQL text cannot hold NUL, and none belongs in an address.
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$"
# Generous bound at the edge; the password policy states the real maximum.
PASSWORD_FIELD_MAX = 1024


# The users table's email column.
EMAIL_MAX_CHARS = 320


def _fits_once_normalised(email: str) -> str:
    # Addresses are stored in lower case, and lower case can be longer: "İ" becomes "i̇".
    if len(normalise_email(email)) > EMAIL_MAX_CHARS:
        raise ValueError(f"the address is longer than {EMAIL_MAX_CHARS} characters in lower case")
    return email


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    email: Annotated[
        str,
        Field(max_length=EMAIL_MAX_CHARS, pattern=EMAIL_PATTERN, examples=["ada@example.com"]),
        AfterValidator(_fits_once_normalised),
    ]
    password: str = Field(min_length=1, max_length=PASSWORD_FIELD_MAX)


class SignupResponse(BaseModel):
    user_id: UUID


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name
    expires_in: int = Field(description="Seconds until the access token expires")


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    refresh_token: str = Field(min_length=1, max_length=256)


class ChangePasswordRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    current_password: str = Field(min_length=1, max_length=PASSWORD_FIELD_MAX)
    new_password: str = Field(min_length=1, max_length=PASSWORD_FIELD_MAX)


class MeResponse(BaseModel):
    user_id: UUID
    email: str
    created_at: datetime


class UserExistsResponse(BaseModel):
    user_id: UUID
    created_at: datetime


class ServiceTokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name
    expires_in: int
    scope: str


class OAuthErrorResponse(BaseModel):
    """RFC 6749 section 5.2 error body."""

    error: str
    error_description: str | None = None


class Jwk(BaseModel):
    model_config = ConfigDict(extra="allow")

    kty: str
    kid: str
    use: str
    alg: str
    crv: str | None = None
    x: str | None = None


class Jwks(BaseModel):
    keys: list[Jwk]
