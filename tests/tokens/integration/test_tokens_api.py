"""The tokens API as its callers see it: a user connects Spotify through the real authorize
redirect of the Spotify fake, and services are handed that user's access token."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from backbeat.authn.testing import TokenForge
from backbeat.runtime.database import Database
from backbeat.spotify.client import SpotifyClient
from backbeat.spotify.settings import SpotifySettings
from backbeat.spotify_fake.app import create_app as create_fake
from backbeat.spotify_fake.config import FakeConfig
from backbeat.tokens.app import create_app
from backbeat.tokens.domain.vault import KeyRing
from backbeat.tokens.service.connect import ConnectFlow
from backbeat.tokens.settings import TokensSettings

pytestmark = pytest.mark.integration

FORGE = TokenForge(issuer="http://auth.test", user_audience="backbeat", service_audience="tokens")
REDIRECT_URI = "http://127.0.0.1:8000/api/spotify/callback"
WEB_UI = "http://127.0.0.1:8000/"


@dataclass
class Stack:
    tokens: httpx.AsyncClient
    spotify: httpx.AsyncClient

    async def new_spotify_user(self) -> str:
        response = await self.spotify.post("/_control/users", json={})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def connect(self, user_token: str, spotify_user: str) -> httpx.Response:
        """The browser's trip: start, consent at the fake, back to the callback."""
        started = await self.tokens.post("/api/spotify/connect", headers=bearer(user_token))
        assert started.status_code == 200, started.text
        authorize = urlsplit(started.json()["authorize_url"])
        consent = await self.spotify.get(
            f"{authorize.path}?{authorize.query}&fake_user={spotify_user}"
        )
        assert consent.status_code in (302, 303), consent.text
        back = urlsplit(consent.headers["location"])
        assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT_URI
        return await self.tokens.get(f"/api/spotify/callback?{back.query}")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def service_token(scopes: str = "tokens:read", **overrides: object) -> str:
    return FORGE.service_token("watcher", scopes, **overrides)


@pytest.fixture
async def stack(tokens_db: Database, tokens_url: str, kafka_bootstrap: str) -> AsyncIterator[Stack]:
    fake = create_fake(FakeConfig(rate_limit=None))
    spotify = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake), base_url="http://127.0.0.1:8090"
    )
    app_registration = await spotify.post(
        "/_control/clients", json={"redirect_uris": [REDIRECT_URI]}
    )
    assert app_registration.status_code == 201, app_registration.text
    settings = TokensSettings(
        database_url=tokens_url,
        kafka_bootstrap=kafka_bootstrap,
        auth_issuer="http://auth.test",
        spotify_client_id=app_registration.json()["client_id"],
        spotify_client_secret=app_registration.json()["client_secret"],
        spotify_redirect_uri=REDIRECT_URI,
        web_ui_url=WEB_UI,
        connections_topic=f"test.spotify.connections.{uuid.uuid4().hex}",
    )
    app = create_app(settings, spotify_http=spotify, auth_keys=FORGE.key_source())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tokens") as tokens:
            yield Stack(tokens=tokens, spotify=spotify)
    await spotify.aclose()


async def test_a_user_connects_spotify_and_a_service_gets_a_working_access_token(
    stack: Stack,
) -> None:
    user_id = str(uuid.uuid4())
    user_token = FORGE.user_token(sub=user_id)
    spotify_user = await stack.new_spotify_user()

    callback = await stack.connect(user_token, spotify_user)
    assert callback.status_code == 302
    assert callback.headers["location"] == f"{WEB_UI}?spotify=connected"

    status = await stack.tokens.get("/api/spotify/connection", headers=bearer(user_token))
    assert status.status_code == 200
    assert status.json()["status"] == "connected"
    assert "user-read-playback-state" in status.json()["scopes"]

    handed = await stack.tokens.get(
        f"/internal/v1/users/{user_id}/spotify/access-token", headers=bearer(service_token())
    )
    assert handed.status_code == 200, handed.text
    assert set(handed.json()) == {"access_token", "expires_at"}  # never the refresh token
    me = await stack.spotify.get("/v1/me", headers=bearer(handed.json()["access_token"]))
    assert me.status_code == 200 and me.json()["id"] == spotify_user


async def test_a_state_works_once_and_only_for_the_flow_it_started(stack: Stack) -> None:
    user_token = FORGE.user_token(sub=str(uuid.uuid4()))
    spotify_user = await stack.new_spotify_user()
    started = await stack.tokens.post("/api/spotify/connect", headers=bearer(user_token))
    authorize = urlsplit(started.json()["authorize_url"])
    consent = await stack.spotify.get(
        f"{authorize.path}?{authorize.query}&fake_user={spotify_user}"
    )
    query = urlsplit(consent.headers["location"]).query
    first = await stack.tokens.get(f"/api/spotify/callback?{query}")
    replay = await stack.tokens.get(f"/api/spotify/callback?{query}")
    forged = await stack.tokens.get("/api/spotify/callback?code=abc&state=made-up")
    assert first.headers["location"] == f"{WEB_UI}?spotify=connected"
    assert parse_qs(urlsplit(replay.headers["location"]).query) == {
        "spotify": ["error"],
        "reason": ["invalid_state"],
    }
    assert "invalid_state" in forged.headers["location"]


async def test_a_user_sees_and_removes_only_their_own_connection(stack: Stack) -> None:
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    alice_token, bob_token = FORGE.user_token(sub=alice), FORGE.user_token(sub=bob)
    await stack.connect(alice_token, await stack.new_spotify_user())

    bobs_view = await stack.tokens.get("/api/spotify/connection", headers=bearer(bob_token))
    assert bobs_view.json() == {"status": "disconnected", "scopes": [], "since": None}
    bobs_delete = await stack.tokens.delete("/api/spotify/connection", headers=bearer(bob_token))
    assert bobs_delete.status_code == 204
    alices_view = await stack.tokens.get("/api/spotify/connection", headers=bearer(alice_token))
    assert alices_view.json()["status"] == "connected"

    assert (
        await stack.tokens.delete("/api/spotify/connection", headers=bearer(alice_token))
    ).status_code == 204
    gone = await stack.tokens.get(
        f"/internal/v1/users/{alice}/spotify/access-token", headers=bearer(service_token())
    )
    assert gone.status_code == 404 and gone.json()["code"] == "not_connected"


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [
        (lambda: FORGE.user_token(), 401, "wrong_token_type"),
        (lambda: service_token(scopes="playback:read"), 403, "insufficient_scope"),
        (lambda: service_token(aud="playback"), 401, None),
        (lambda: "", 401, None),
    ],
)
async def test_the_internal_hand_out_refuses_users_wrong_audiences_and_missing_scopes(
    stack: Stack, token, status: int, code: str | None
) -> None:
    user_id = str(uuid.uuid4())
    await stack.connect(FORGE.user_token(sub=user_id), await stack.new_spotify_user())
    response = await stack.tokens.get(
        f"/internal/v1/users/{user_id}/spotify/access-token", headers=bearer(token())
    )
    assert response.status_code == status
    assert "access_token" not in response.text
    if code:
        assert response.json()["code"] == code


async def test_browsers_are_sent_to_the_public_authorize_url_when_one_is_set(
    tokens_db: Database,
) -> None:
    spotify = SpotifyClient(
        SpotifySettings(
            client_id="app",
            client_secret="secret",
            redirect_uri=REDIRECT_URI,
            accounts_base_url="http://spotify-fake:8090",
        )
    )
    flow = ConnectFlow(
        tokens_db,
        KeyRing.parse(f"k1:{KeyRing.generate_key()}"),
        spotify,
        scopes=("user-read-playback-state",),
        state_ttl=timedelta(minutes=5),
        authorize_base_url="http://localhost:8090",
    )
    url = urlsplit(await flow.start(str(uuid.uuid4()), datetime.now(UTC)))
    await spotify.aclose()
    assert (url.scheme, url.netloc, url.path) == ("http", "localhost:8090", "/authorize")
    assert parse_qs(url.query)["code_challenge_method"] == ["S256"]
