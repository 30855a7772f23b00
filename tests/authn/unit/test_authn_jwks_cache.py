"""The JWKS cache refetches for a new key, but not for every made-up kid."""

from __future__ import annotations

import httpx
import pytest

from backbeat.authn import JwksCache, KeySetUnavailable
from backbeat.authn.testing import TokenForge


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class JwksServer:
    """Serves a key set over an httpx mock transport and counts the requests."""

    def __init__(self, *forges: TokenForge) -> None:
        self.keys = [f.public_jwk() for f in forges]
        self.requests = 0
        self.failing = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.failing:
            return httpx.Response(503)
        return httpx.Response(200, json={"keys": self.keys})


def cache(server: JwksServer, clock: FakeClock) -> JwksCache:
    http = httpx.AsyncClient(transport=httpx.MockTransport(server.handler))
    return JwksCache(
        "http://auth.test/.well-known/jwks.json",
        http=http,
        max_age_s=300,
        min_refetch_interval_s=30,
        clock=clock,
    )


async def test_a_key_added_after_the_first_fetch_is_found_by_refetching() -> None:
    old, new = TokenForge(issuer="i"), TokenForge(issuer="i")
    server, clock = JwksServer(old), FakeClock()
    keys = cache(server, clock)
    assert await keys.get(old.kid) is not None

    server.keys.append(new.public_jwk())
    clock.now += 31

    assert await keys.get(new.kid) is not None
    assert server.requests == 2


async def test_unknown_kids_refetch_at_most_once_per_interval() -> None:
    forge = TokenForge(issuer="i")
    server, clock = JwksServer(forge), FakeClock()
    keys = cache(server, clock)

    for attempt in range(50):
        assert await keys.get(f"made-up-{attempt}") is None

    assert server.requests == 1


async def test_cached_keys_survive_a_failed_refresh() -> None:
    forge = TokenForge(issuer="i")
    server, clock = JwksServer(forge), FakeClock()
    keys = cache(server, clock)
    await keys.get(forge.kid)

    server.failing = True
    clock.now += 301

    assert await keys.get(forge.kid) is not None


async def test_no_key_set_at_all_is_a_transient_error_not_a_refusal() -> None:
    server, clock = JwksServer(), FakeClock()
    server.failing = True

    with pytest.raises(KeySetUnavailable):
        await cache(server, clock).get("any")
