"""Apps registered at start with known credentials, as a development stack needs them."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from backbeat.spotify_fake.app import create_app
from backbeat.spotify_fake.config import FakeConfig

REDIRECT = "http://127.0.0.1:8000/api/spotify/callback"


async def token_error(config: FakeConfig, client_secret: str) -> str:
    transport = httpx.ASGITransport(app=create_app(config))
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as http:
        response = await http.post(
            "/api/token",
            data={"grant_type": "authorization_code", "code": "nope", "redirect_uri": REDIRECT},
            auth=("backbeat-dev", client_secret),
        )
    return str(response.json()["error"])


async def test_an_app_given_at_start_authenticates_with_its_known_secret() -> None:
    config = FakeConfig(apps=[f"backbeat-dev:dev-secret:{REDIRECT}"])
    # The client is accepted, so the unknown code is what fails.
    assert await token_error(config, "dev-secret") == "invalid_grant"
    assert await token_error(config, "wrong-secret") == "invalid_client"


def test_a_malformed_app_spec_is_refused() -> None:
    with pytest.raises(ValidationError, match="client_id:client_secret:redirect_uri"):
        FakeConfig(apps=["backbeat-dev"])
