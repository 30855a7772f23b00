"""The one client of tokens' hand-out: typed refusals decided by tokens' stable codes, its
Retry-After honoured, and users' access tokens cached (watcher) or asked for each time
(playback)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from backbeat.authn.spotify_access import (
    NeedsReauth,
    NotConnected,
    SpotifyAccessTokens,
    TokensTryLater,
)

NOW = 1_767_600_000.0


async def test_a_cached_token_is_used_while_tokens_is_down_until_shortly_before_it_expires() -> (
    None
):
    clock = [NOW]
    tokens_up = [True]
    asked: list[str] = []

    def handout(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if not tokens_up[0]:
            raise httpx.ConnectError("tokens is down")
        expires = datetime.fromtimestamp(clock[0] + 3600, tz=UTC).isoformat()
        return httpx.Response(200, json={"access_token": "t-1", "expires_at": expires})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handout)) as http:
        source = SpotifyAccessTokens(
            "http://tokens", http, cache_margin_s=60, wall_clock=lambda: clock[0]
        )
        assert await source.access_token("u1") == "t-1"
        tokens_up[0] = False
        for minute in range(58):  # an hour-long token, 58 minutes of tokens being down
            clock[0] = NOW + minute * 60
            assert await source.access_token("u1") == "t-1"
        assert len(asked) == 1
        clock[0] = NOW + 3600 - 59  # within the margin of its expiry: asked again
        with pytest.raises(TokensTryLater):
            await source.access_token("u1")
        assert len(asked) == 2


def problem(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"status": status, "code": code}, headers=headers)


@pytest.mark.parametrize(
    ("answer", "refusal"),
    [
        (problem(404, "not_connected"), NotConnected),
        (problem(409, "needs_reauth"), NeedsReauth),
        (problem(503, "try_later", {"Retry-After": "12"}), TokensTryLater),
        # A 404 that is not tokens' "not connected" (a wrong base URL, say) must not stop a
        # user's polling as if they had disconnected.
        (httpx.Response(404, text="no such route"), TokensTryLater),
        (problem(403, "forbidden"), TokensTryLater),
    ],
)
async def test_refusals_are_typed_by_tokens_stable_codes(
    answer: httpx.Response, refusal: type[Exception]
) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda _: answer)) as http:
        with pytest.raises(refusal):
            await SpotifyAccessTokens("http://tokens", http).access_token("u1")


async def test_tokens_retry_after_is_passed_on_and_absent_when_not_given() -> None:
    answers = iter([problem(503, "try_later", {"Retry-After": "12"}), problem(503, "try_later")])
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda _: next(answers))) as http:
        source = SpotifyAccessTokens("http://tokens", http)
        with pytest.raises(TokensTryLater) as first:
            await source.access_token("u1")
        with pytest.raises(TokensTryLater) as second:
            await source.access_token("u1")
    assert first.value.retry_after_s == 12.0
    assert second.value.retry_after_s is None


async def test_without_a_cache_every_call_asks_tokens_so_a_disconnect_takes_effect_at_once() -> (
    None
):
    connected = [True]

    def handout(request: httpx.Request) -> httpx.Response:
        if not connected[0]:
            return problem(404, "not_connected")
        expires = datetime.fromtimestamp(NOW + 3600, tz=UTC).isoformat()
        return httpx.Response(200, json={"access_token": "t-1", "expires_at": expires})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handout)) as http:
        source = SpotifyAccessTokens("http://tokens", http)
        assert await source.access_token("u1") == "t-1"
        connected[0] = False
        with pytest.raises(NotConnected):
            await source.access_token("u1")


async def test_each_user_gets_their_own_token_and_the_path_is_escaped() -> None:
    asked: list[str] = []

    def handout(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.raw_path.decode())
        user = request.url.path.split("/")[4]
        expires = datetime.fromtimestamp(NOW + 3600, tz=UTC).isoformat()
        return httpx.Response(200, json={"access_token": f"t-{user}", "expires_at": expires})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handout)) as http:
        source = SpotifyAccessTokens(
            "http://tokens", http, cache_margin_s=60, wall_clock=lambda: NOW
        )
        assert await source.access_token("a") == "t-a"
        assert await source.access_token("b") == "t-b"
        assert await source.access_token("a") == "t-a"
        await source.access_token("../x?y")
    assert asked[:2] == [
        "/internal/v1/users/a/spotify/access-token",
        "/internal/v1/users/b/spotify/access-token",
    ]
    assert asked[2] == "/internal/v1/users/..%2Fx%3Fy/spotify/access-token"


async def test_a_refused_deployment_is_logged_without_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answer = problem(403, "forbidden")
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda _: answer)) as http:
        with pytest.raises(TokensTryLater):
            await SpotifyAccessTokens("http://tokens", http).access_token("u1")
    assert any(r.levelname == "ERROR" for r in caplog.records)
