"""One contract for every source of Spotify access tokens the watcher may be given: the
tokens service's hand-out (`SpotifyAccessTokens`, what a deployment runs) and the static
double the tests and benches use (`StaticAccessTokens`). Both run the same tests, so a test
that passes with the double says something about the deployment.

The contract: a connected user gets a token Spotify accepts; a user with no connection is
`NotConnected`; after `invalidate` (Spotify refused a token) the next token is still one
Spotify accepts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from backbeat.authn.spotify_access import NotConnected, SpotifyAccessTokens
from backbeat.authn.testing import TokenForge
from backbeat.runtime.testing import StaticJson, spotify_fake
from backbeat.tokens.store.migrate import upgrade
from backbeat.tokens.testing import connect_in_a_browser, tokens_process
from backbeat.watcher.service.access_tokens import AccessTokenSource
from backbeat.watcher.testing import StaticAccessTokens

pytestmark = pytest.mark.integration

ISSUER = "http://auth.test"
FORGE = TokenForge(issuer=ISSUER, user_audience="backbeat", service_audience="tokens")
REDIRECT = "http://127.0.0.1:8000/api/spotify/callback"


@dataclass(frozen=True)
class Deployment:
    fake_url: str
    tokens_url: str
    user_id: str  # connected to Spotify through tokens' OAuth flow


@pytest.fixture(scope="module")
def deployment(database_urls: dict[str, str], kafka_bootstrap: str) -> Iterator[Deployment]:
    upgrade(database_urls["tokens"])
    fake = spotify_fake("--rate-limit", "0").start()
    try:
        app = httpx.post(f"{fake.url}/_control/clients", json={"redirect_uris": [REDIRECT]})
        with StaticJson(FORGE.jwks()) as jwks:
            tokens = tokens_process(
                database_url=database_urls["tokens"],
                kafka_bootstrap=kafka_bootstrap,
                auth_issuer=ISSUER,
                jwks_url=jwks.url,
                spotify_url=fake.url,
                spotify_app=app.json(),
                redirect_uri=REDIRECT,
                connections_topic=f"test.spotify.connections.contract.{uuid.uuid4().hex[:8]}",
                name="tokens-for-contract",
                # Ready once it has read the revocations and reached Kafka: slower on a
                # loaded machine than the default start timeout allows.
            ).start(timeout_s=60)
            try:
                user_id = str(uuid.uuid4())
                spotify_user = httpx.post(f"{fake.url}/_control/users", json={}).json()["id"]
                bearer = {"Authorization": f"Bearer {FORGE.user_token(sub=user_id)}"}
                callback = connect_in_a_browser(tokens.url, fake.url, bearer, spotify_user)
                assert callback.headers["location"].endswith("?spotify=connected")
                yield Deployment(fake.url, tokens.url, user_id)
            finally:
                tokens.stop()
    finally:
        fake.stop()


@pytest.fixture(params=["tokens-hand-out", "static-double"])
async def source(
    request: pytest.FixtureRequest, deployment: Deployment
) -> AsyncIterator[AccessTokenSource]:
    service_jwt = FORGE.service_token("watcher", "tokens:read")
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {service_jwt}"}, timeout=10
    ) as http:
        handout = SpotifyAccessTokens(deployment.tokens_url, http, cache_margin_s=60)
        if request.param == "tokens-hand-out":
            yield handout
        else:
            # The double holds what the deployment would hand out for the same user.
            yield StaticAccessTokens(
                {deployment.user_id: await handout.access_token(deployment.user_id)}
            )


async def spotify_accepts(deployment: Deployment, token: str) -> bool:
    async with httpx.AsyncClient(base_url=deployment.fake_url, timeout=10) as http:
        answer = await http.get("/v1/me/player", headers={"Authorization": f"Bearer {token}"})
    return answer.status_code in (200, 204)


async def test_a_connected_user_gets_a_token_spotify_accepts(
    source: AccessTokenSource, deployment: Deployment
) -> None:
    token = await source.access_token(deployment.user_id)
    assert await spotify_accepts(deployment, token)
    assert not await spotify_accepts(deployment, token + "x")  # the check can fail


async def test_a_user_without_a_connection_is_not_connected(
    source: AccessTokenSource,
) -> None:
    with pytest.raises(NotConnected):
        await source.access_token(str(uuid.uuid4()))


async def test_after_invalidate_the_next_token_is_still_accepted(
    source: AccessTokenSource, deployment: Deployment
) -> None:
    first = await source.access_token(deployment.user_id)
    source.invalidate(deployment.user_id)
    again, also = await asyncio.gather(
        source.access_token(deployment.user_id), source.access_token(deployment.user_id)
    )
    assert await spotify_accepts(deployment, again)
    assert also == again
    assert first  # a token was handed out before the invalidation too
