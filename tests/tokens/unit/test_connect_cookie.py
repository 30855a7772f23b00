"""The connect flow's browser-binding cookie: its attributes follow where browsers return."""

from __future__ import annotations

import pytest

from backbeat.tokens.api.connect_cookie import ConnectCookie
from backbeat.tokens.service.connect import browser_binding
from backbeat.tokens.settings import TokensSettings


@pytest.mark.parametrize(
    ("redirect_uri", "setting", "secure", "path"),
    [
        ("http://127.0.0.1:8000/api/spotify/callback", None, False, "/api/spotify/callback"),
        ("https://backbeat.example/api/spotify/callback", None, True, "/"),
        # BACKBEAT_TOKENS_CONNECT_COOKIE_SECURE, when set, wins over the redirect URI's scheme.
        ("http://127.0.0.1:8000/api/spotify/callback", True, True, "/"),
        ("https://backbeat.example/api/spotify/callback", False, False, "/api/spotify/callback"),
    ],
)
def test_the_cookie_is_secure_and_host_prefixed_exactly_when_browsers_return_over_https(
    redirect_uri: str, setting: bool | None, secure: bool, path: str
) -> None:
    cookie = ConnectCookie.for_settings(
        TokensSettings(spotify_redirect_uri=redirect_uri, connect_cookie_secure=setting)
    )
    assert (cookie.secure, cookie.path, cookie.max_age_s) == (secure, path, 600)
    name = cookie.name(browser_binding("some-state"))
    assert name.startswith("__Host-") is secure


def test_each_flow_has_a_cookie_of_its_own_and_the_state_stays_out_of_it() -> None:
    cookie = ConnectCookie(secure=False, path="/api/spotify/callback", max_age_s=600)
    first, second = browser_binding("state-one"), browser_binding("state-two")
    assert cookie.name(first) != cookie.name(second)
    assert browser_binding("state-one") == first  # the callback recomputes it from the state
    assert "state-one" not in first and "state-one" not in cookie.name(first)
