"""Users' access tokens are cached until shortly before they expire: tokens being down costs
nothing while they are valid, and is reported as "try later" once they are not."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from backbeat.watcher.workers.access_tokens import TokensServiceAccessTokens, TokensTryLater

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
        source = TokensServiceAccessTokens(
            "http://tokens", http, margin_s=60, wall_clock=lambda: clock[0]
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
