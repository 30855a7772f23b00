"""The gateway's clients to the services keep no cookies: a cookie a service sets belongs to
the caller it answered, and must never ride along with someone else's request."""

from __future__ import annotations

import httpx

from backbeat.gateway.adapters.forward import Forwarder, Timeouts
from backbeat.gateway.domain.routes import Upstream


async def test_a_cookie_set_for_one_caller_never_reaches_a_service_with_another_s_request() -> None:
    cookies_seen: list[str | None] = []

    def tokens(request: httpx.Request) -> httpx.Response:
        cookies_seen.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"set-cookie": "binding=bobs; Path=/; HttpOnly"})

    forwarder = Forwarder(
        {Upstream.TOKENS: "http://tokens"},
        Timeouts(connect_s=1, response_s=1, stream_idle_s=1),
        max_connections=4,
        transport=httpx.MockTransport(tokens),
    )
    try:
        bobs = await forwarder.forward(
            Upstream.TOKENS,
            method="POST",
            target="/api/spotify/connect",
            headers=[("authorization", "Bearer bob")],
            body=b"",
            is_stream=False,
        )
        # Bob's response carries his cookie to him...
        assert (b"set-cookie", b"binding=bobs; Path=/; HttpOnly") in bobs.raw_headers
        await bobs.upstream.aclose()
        # ... and Vera's request, which has none, reaches the service without it.
        veras = await forwarder.forward(
            Upstream.TOKENS,
            method="GET",
            target="/api/spotify/callback?state=s&code=c",
            headers=[],
            body=b"",
            is_stream=False,
        )
        await veras.upstream.aclose()
    finally:
        await forwarder.aclose()
    assert cookies_seen == [None, None]
