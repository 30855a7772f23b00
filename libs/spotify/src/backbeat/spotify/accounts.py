"""Spotify's accounts service for one app: redeem an authorization code, refresh an access
token. These calls carry the app's secret and users' refresh tokens, which only tokens holds:
an import rule (pyproject.toml, import-linter) keeps every other service from importing this
module, and the package does not re-export it.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

import httpx

from backbeat.spotify.client import PooledClient, parse, send
from backbeat.spotify.errors import accounts_error
from backbeat.spotify.models import TokenGrant
from backbeat.spotify.settings import SpotifySettings


class SpotifyAccounts(PooledClient):
    """Token endpoint calls for the app of ``settings``. Pass `http` to share a pool (the Web
    API client's, say)."""

    def __init__(self, settings: SpotifySettings, http: httpx.AsyncClient | None = None) -> None:
        super().__init__(settings, http)
        self.settings = settings
        self._token_url = settings.accounts_base_url.rstrip("/") + "/api/token"

    async def exchange_code(self, code: str, *, code_verifier: str | None = None) -> TokenGrant:
        """Redeem an authorization code. A public client must give the PKCE `code_verifier`."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.settings.redirect_uri,
        }
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        return await self._token_request(form)

    async def refresh(self, refresh_token: str) -> TokenGrant:
        """A new access token; the answer's `refresh_token` is None when the old one stays."""
        return await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )

    async def _token_request(self, form: dict[str, str]) -> TokenGrant:
        headers: dict[str, str] = {}
        secret = self.settings.client_secret
        if secret is None:
            form = {**form, "client_id": self.settings.client_id}
        else:
            # RFC 6749 section 2.3.1: each part is form-encoded before the base64.
            user = quote(self.settings.client_id, safe="")
            password = quote(secret.get_secret_value(), safe="")
            basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {basic}"
        response = await send(self._http, "POST", self._token_url, data=form, headers=headers)
        if response.status_code != 200:
            raise accounts_error(response)
        return parse(TokenGrant, response)


__all__ = ["SpotifyAccounts"]
