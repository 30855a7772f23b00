"""How responses become exceptions and models: the types callers branch on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from backbeat.spotify import (
    AccessTokenExpired,
    AccessTokenInvalid,
    AccessTokenRejected,
    BadRequest,
    CurrentlyPlaying,
    Forbidden,
    InsufficientScope,
    InvalidClient,
    InvalidGrant,
    NoActiveDevice,
    PermanentSpotifyError,
    PlaybackState,
    PlayerCommandRejected,
    PremiumRequired,
    RateLimited,
    TokenGrant,
    Track,
    TransientSpotifyError,
    UnknownItem,
    parse_retry_after,
)
from backbeat.spotify.errors import accounts_error, web_api_error


def _api(status: int, message: str, reason: str | None = None, **headers: str) -> httpx.Response:
    error: dict[str, object] = {"status": status, "message": message}
    if reason:
        error["reason"] = reason
    return httpx.Response(status, json={"error": error}, headers=headers)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (_api(401, "The access token expired"), AccessTokenExpired),
        (_api(401, "Invalid access token"), AccessTokenInvalid),
        (_api(401, "Permissions missing"), InsufficientScope),
        (_api(403, "Insufficient client scope"), InsufficientScope),
        (_api(403, "Player command failed: Premium required", "PREMIUM_REQUIRED"), PremiumRequired),
        (
            _api(404, "Player command failed: No active device found", "NO_ACTIVE_DEVICE"),
            NoActiveDevice,
        ),
        (
            _api(403, "Player command failed: Restriction violated", "UNKNOWN"),
            PlayerCommandRejected,
        ),
        (_api(403, "Forbidden"), Forbidden),
        (_api(400, "Bad request"), BadRequest),
        (_api(500, "Server error"), TransientSpotifyError),
        (httpx.Response(502, text="<html>Bad gateway</html>"), TransientSpotifyError),
        (_api(429, "API rate limit exceeded", **{"Retry-After": "3"}), RateLimited),
    ],
)
def test_web_api_failures_map_to_their_types(
    response: httpx.Response, expected: type[Exception]
) -> None:
    assert type(web_api_error(response)) is expected


def test_the_types_say_whether_to_retry_refresh_or_give_up() -> None:
    assert issubclass(RateLimited, TransientSpotifyError)
    assert issubclass(InvalidGrant, PermanentSpotifyError)
    assert issubclass(PremiumRequired, PermanentSpotifyError)
    assert issubclass(NoActiveDevice, PermanentSpotifyError)
    assert issubclass(AccessTokenExpired, AccessTokenRejected)
    assert not issubclass(AccessTokenRejected, (PermanentSpotifyError, TransientSpotifyError))


def test_accounts_failures_map_to_their_types() -> None:
    grant = accounts_error(
        httpx.Response(
            400, json={"error": "invalid_grant", "error_description": "Refresh token revoked"}
        )
    )
    client = accounts_error(
        httpx.Response(401, json={"error": "invalid_client", "error_description": "Invalid client"})
    )
    down = accounts_error(httpx.Response(503, text="unavailable"))
    assert isinstance(grant, InvalidGrant) and grant.description == "Refresh token revoked"
    assert isinstance(client, InvalidClient)
    assert type(down) is TransientSpotifyError


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("30") == 30.0


def test_retry_after_as_an_http_date_counts_from_the_response_date() -> None:
    now = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=now) == 90.0
    assert (
        parse_retry_after(format_datetime(now - timedelta(seconds=5), usegmt=True), now=now) == 0.0
    )


def test_retry_after_that_is_missing_or_garbage_is_none() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


def test_a_429_uses_the_responses_date_header_for_an_http_date() -> None:
    sent = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)
    response = _api(
        429,
        "API rate limit exceeded",
        **{
            "Retry-After": format_datetime(sent + timedelta(seconds=12), usegmt=True),
            "Date": format_datetime(sent, usegmt=True),
        },
    )
    limited = web_api_error(response)
    assert isinstance(limited, RateLimited) and limited.retry_after == 12.0


def test_token_grants_keep_tokens_out_of_reprs() -> None:
    grant = TokenGrant.model_validate(
        {"access_token": "AT-secret", "token_type": "Bearer", "expires_in": 3600, "scope": "a b"}
    )
    assert "AT-secret" not in repr(grant) and "AT-secret" not in str(grant)
    assert grant.refresh_token is None
    assert grant.scopes == {"a", "b"}


_TRACK = {
    "type": "track",
    "id": "t1",
    "name": "Song",
    "uri": "spotify:track:t1",
    "duration_ms": 200_000,
    "artists": [{"id": "a1", "name": "Band", "type": "artist", "uri": "spotify:artist:a1"}],
    "brand_new_field": {"x": 1},
}


def test_models_keep_fields_spotify_adds_later() -> None:
    state = PlaybackState.model_validate(
        {
            "is_playing": True,
            "currently_playing_type": "track",
            "item": _TRACK,
            "progress_ms": 10,
            "timestamp": 1,
            "device": {"id": "d", "name": "Laptop", "type": "Computer", "is_active": True},
            "smart_shuffle": False,
        }
    )
    assert isinstance(state.item, Track) and state.track is not None
    assert state.item.model_extra == {"brand_new_field": {"x": 1}}
    assert state.model_extra == {"smart_shuffle": False}


@pytest.mark.parametrize("kind", ["ad", "unknown", "episode", "something_new"])
def test_every_currently_playing_type_parses_with_a_null_item(kind: str) -> None:
    now = CurrentlyPlaying.model_validate(
        {"is_playing": True, "currently_playing_type": kind, "item": None, "timestamp": 1}
    )
    assert now.item is None and now.track is None


def test_an_item_of_an_unknown_type_does_not_break_parsing() -> None:
    now = CurrentlyPlaying.model_validate(
        {
            "is_playing": True,
            "currently_playing_type": "unknown",
            "item": {"type": "audiobook_chapter", "id": "c"},
            "timestamp": 1,
        }
    )
    assert isinstance(now.item, UnknownItem)
