"""The start of the OAuth connect flow: `state`, PKCE (S256) and the authorize URL."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from backbeat.spotify.settings import SpotifySettings


@dataclass(frozen=True, slots=True)
class PkcePair:
    """A PKCE code verifier and its S256 challenge (RFC 7636). The verifier stays secret."""

    verifier: str = field(repr=False)
    challenge: str

    @classmethod
    def generate(cls) -> PkcePair:
        # 64 random bytes give an 86-character verifier, inside RFC 7636's 43-128.
        verifier = secrets.token_urlsafe(64)
        return cls(verifier=verifier, challenge=s256_challenge(verifier))


def s256_challenge(verifier: str) -> str:
    """BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_state() -> str:
    """An unguessable `state` value that ties the callback to the browser that started it."""
    return secrets.token_urlsafe(32)


def authorize_url(
    settings: SpotifySettings,
    *,
    state: str,
    code_challenge: str,
    scopes: Iterable[str],
    show_dialog: bool = False,
    extra_params: dict[str, str] | None = None,
) -> str:
    """Spotify's /authorize URL for the authorization-code flow with PKCE.

    `extra_params` is for what only some servers understand, e.g. the fake's `fake_user`.
    """
    params = {
        "client_id": settings.client_id,
        "response_type": "code",
        "redirect_uri": settings.redirect_uri,
        "state": state,
        "scope": " ".join(scopes),
        "code_challenge_method": "S256",
        "code_challenge": code_challenge,
    }
    if show_dialog:
        params["show_dialog"] = "true"
    params.update(extra_params or {})
    return f"{settings.accounts_base_url.rstrip('/')}/authorize?{urlencode(params)}"
