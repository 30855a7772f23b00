"""PKCE, state and the authorize URL the client builds."""

from __future__ import annotations

import re

import httpx

from backbeat.spotify import SpotifySettings
from backbeat.spotify.authorization import PkcePair, authorize_url, new_state, s256_challenge


def test_s256_challenge_matches_the_rfc_7636_example() -> None:
    # RFC 7636 appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_generated_verifiers_are_valid_and_unique() -> None:
    pairs = [PkcePair.generate() for _ in range(20)]
    for pair in pairs:
        assert re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", pair.verifier)
        assert pair.challenge == s256_challenge(pair.verifier)
        assert pair.verifier not in repr(pair)
    assert len({pair.verifier for pair in pairs}) == 20
    assert new_state() != new_state()


def test_authorize_url_carries_state_pkce_scopes_and_the_redirect_uri() -> None:
    settings = SpotifySettings(
        client_id="abc",
        redirect_uri="http://127.0.0.1:8002/callback",
        accounts_base_url="http://127.0.0.1:8090/",
    )
    url = httpx.URL(
        authorize_url(
            settings,
            state="st",
            code_challenge="ch",
            scopes=["user-read-playback-state", "user-read-recently-played"],
        )
    )
    assert str(url).startswith("http://127.0.0.1:8090/authorize?")
    assert dict(url.params) == {
        "client_id": "abc",
        "response_type": "code",
        "redirect_uri": "http://127.0.0.1:8002/callback",
        "state": "st",
        "scope": "user-read-playback-state user-read-recently-played",
        "code_challenge_method": "S256",
        "code_challenge": "ch",
    }


def test_settings_default_to_the_real_spotify() -> None:
    settings = SpotifySettings(client_id="abc", redirect_uri="https://example.com/cb")
    assert settings.accounts_base_url == "https://accounts.spotify.com"
    assert settings.api_base_url == "https://api.spotify.com"
    assert settings.is_public_client
