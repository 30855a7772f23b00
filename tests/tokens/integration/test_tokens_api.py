"""The tokens API as its callers see it: a user connects Spotify through the real authorize
redirect of the Spotify fake, and services are handed that user's access token."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from backbeat.authn.testing import TokenForge
from backbeat.runtime.database import Database
from backbeat.spotify.accounts import SpotifyAccounts
from backbeat.spotify.client import SpotifyClient
from backbeat.spotify.settings import SpotifySettings
from backbeat.spotify_fake.app import create_app as create_fake
from backbeat.spotify_fake.config import FakeConfig
from backbeat.tokens.app import create_app
from backbeat.tokens.domain.vault import KeyRing
from backbeat.tokens.service.connect import ConnectFlow
from backbeat.tokens.settings import TokensSettings
from backbeat.tokens.store.tables import connect_states, credentials, outbox

pytestmark = pytest.mark.integration

FORGE = TokenForge(issuer="http://auth.test", user_audience="backbeat", service_audience="tokens")
REDIRECT_URI = "http://127.0.0.1:8000/api/spotify/callback"
WEB_UI = "http://127.0.0.1:8000/"


@dataclass
class Stack:
    # The user's browser: its cookie jar keeps what tokens sets, as a browser's does.
    tokens: httpx.AsyncClient
    spotify: httpx.AsyncClient
    transport: httpx.ASGITransport

    def browser(self) -> httpx.AsyncClient:
        """Another browser (its own cookie jar) reaching the same tokens service."""
        return httpx.AsyncClient(transport=self.transport, base_url="http://tokens")

    async def new_spotify_user(self) -> str:
        response = await self.spotify.post("/_control/users", json={})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def start(self, user_token: str, browser: httpx.AsyncClient | None = None) -> str:
        """The web UI's connect call; the authorize URL Spotify's page opens with."""
        started = await (browser or self.tokens).post(
            "/api/spotify/connect", headers=bearer(user_token)
        )
        assert started.status_code == 200, started.text
        return str(started.json()["authorize_url"])

    async def consent(self, authorize_url: str, spotify_user: str) -> str:
        """``spotify_user`` agrees on the fake's page; the callback's query string."""
        authorize = urlsplit(authorize_url)
        consent = await self.spotify.get(
            f"{authorize.path}?{authorize.query}&fake_user={spotify_user}"
        )
        assert consent.status_code in (302, 303), consent.text
        back = urlsplit(consent.headers["location"])
        assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT_URI
        return back.query

    async def connect(self, user_token: str, spotify_user: str) -> httpx.Response:
        """The browser's trip: start, consent at the fake, back to the callback."""
        query = await self.consent(await self.start(user_token), spotify_user)
        return await self.tokens.get(f"/api/spotify/callback?{query}")

    async def token_calls(self) -> int:
        """Authorization codes and refresh tokens Spotify was asked to exchange."""
        stats = (await self.spotify.get("/_control/stats")).json()
        return sum(stats["token_calls_by_client"].values())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def service_token(scopes: str = "tokens:read", **overrides: object) -> str:
    return FORGE.service_token("watcher", scopes, **overrides)


@asynccontextmanager
async def running_stack(
    tokens_url: str, kafka_bootstrap: str, redirect_uri: str = REDIRECT_URI, **settings: Any
) -> AsyncIterator[Stack]:
    """Tokens in-process with the Spotify fake; ``settings`` overrides TokensSettings."""
    fake = create_fake(FakeConfig(rate_limit=None))
    spotify = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake), base_url="http://127.0.0.1:8090"
    )
    app_registration = await spotify.post(
        "/_control/clients", json={"redirect_uris": [redirect_uri]}
    )
    assert app_registration.status_code == 201, app_registration.text
    values: dict[str, Any] = {
        "database_url": tokens_url,
        "kafka_bootstrap": kafka_bootstrap,
        "auth_issuer": "http://auth.test",
        "spotify_client_id": app_registration.json()["client_id"],
        "spotify_client_secret": app_registration.json()["client_secret"],
        "spotify_redirect_uri": redirect_uri,
        "web_ui_url": WEB_UI,
        "connections_topic": f"test.spotify.connections.{uuid.uuid4().hex}",
        # Never the topics (nor the group) a local stack on the same broker reads.
        "users_topic": f"test.auth.users.{uuid.uuid4().hex}",
        "revocations_topic": f"test.auth.revocations.{uuid.uuid4().hex}",
        "erasure_consumer_group": f"test-tokens-erasure-{uuid.uuid4().hex}",
    }
    app = create_app(
        TokensSettings(**{**values, **settings}),
        spotify_http=spotify,
        auth_keys=FORGE.key_source(),
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tokens") as tokens:
            yield Stack(tokens=tokens, spotify=spotify, transport=transport)
    await spotify.aclose()


@pytest.fixture
async def stack(tokens_db: Database, tokens_url: str, kafka_bootstrap: str) -> AsyncIterator[Stack]:
    async with running_stack(tokens_url, kafka_bootstrap) as running:
        yield running


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
    app = SpotifySettings(
        client_id="app",
        client_secret="secret",
        redirect_uri=REDIRECT_URI,
        accounts_base_url="http://spotify-fake:8090",
    )
    accounts, spotify = SpotifyAccounts(app), SpotifyClient(app.web_api())
    flow = ConnectFlow(
        tokens_db,
        KeyRing.parse(f"k1:{KeyRing.generate_key()}"),
        accounts,
        spotify,
        scopes=("user-read-playback-state",),
        state_ttl=timedelta(minutes=5),
        authorize_base_url="http://localhost:8090",
    )
    url = urlsplit((await flow.start(str(uuid.uuid4()), datetime.now(UTC))).authorize_url)
    await spotify.aclose()
    await accounts.aclose()
    assert (url.scheme, url.netloc, url.path) == ("http", "localhost:8090", "/authorize")
    assert parse_qs(url.query)["code_challenge_method"] == ["S256"]


def outcome(callback: httpx.Response) -> dict[str, list[str]]:
    """What the web UI is told: the query of the callback's redirect."""
    assert callback.status_code == 302, callback.text
    location = callback.headers["location"]
    assert location.startswith(WEB_UI), location
    return parse_qs(urlsplit(location).query)


async def stored_rows(database: Database) -> dict[str, int]:
    async with database.session() as session:
        counts = {
            table.name: select(func.count()).select_from(table).scalar_subquery()
            for table in (credentials, outbox, connect_states)
        }
        row = (await session.execute(select(*(c.label(n) for n, c in counts.items())))).one()
        return dict(row._mapping)


def set_cookies(response: httpx.Response) -> list[tuple[str, set[str]]]:
    """Each Set-Cookie header: its ``name=value`` and its attributes, lowercased."""
    cookies = []
    for header in response.headers.get_list("set-cookie"):
        pair, *attributes = (part.strip() for part in header.split(";"))
        cookies.append((pair, {attribute.lower() for attribute in attributes}))
    return cookies


async def test_a_callback_in_a_browser_that_did_not_start_the_flow_links_nothing(
    stack: Stack, tokens_db: Database
) -> None:
    """Login CSRF (RFC 6749 10.12): Bob starts a connect and sends the authorize link to
    Vera; she consents with her Spotify account and her browser, which never saw Bob's
    connect response, lands on the callback. Her account must not end up linked to Bob's."""
    bob = str(uuid.uuid4())
    bob_token = FORGE.user_token(sub=bob)
    veras_spotify = await stack.new_spotify_user()
    link = await stack.start(bob_token)
    callback_query = await stack.consent(link, veras_spotify)

    async with stack.browser() as veras_browser:
        refused = await veras_browser.get(f"/api/spotify/callback?{callback_query}")
    assert outcome(refused) == {"spotify": ["error"], "reason": ["browser_mismatch"]}

    # Nothing was exchanged, stored or announced, and the state is spent: Bob cannot finish
    # the flow with Vera's code even from his own browser.
    assert await stack.token_calls() == 0
    assert await stored_rows(tokens_db) == {
        "spotify_credentials": 0,
        "outbox": 0,
        "connect_states": 0,
    }
    retried = await stack.tokens.get(f"/api/spotify/callback?{callback_query}")
    assert outcome(retried)["reason"] == ["invalid_state"]
    assert await stack.token_calls() == 0
    bobs_view = await stack.tokens.get("/api/spotify/connection", headers=bearer(bob_token))
    assert bobs_view.json()["status"] == "disconnected"
    handed = await stack.tokens.get(
        f"/internal/v1/users/{bob}/spotify/access-token", headers=bearer(service_token())
    )
    assert handed.status_code == 404 and "access_token" not in handed.text


async def test_the_victim_s_own_pending_flow_does_not_open_someone_else_s(
    stack: Stack, tokens_db: Database
) -> None:
    bob_token = FORGE.user_token(sub=str(uuid.uuid4()))
    vera_token = FORGE.user_token(sub=str(uuid.uuid4()))
    veras_spotify = await stack.new_spotify_user()
    async with stack.browser() as veras_browser:
        await stack.start(vera_token, veras_browser)  # Vera's own flow, left unfinished
        assert len(veras_browser.cookies) == 1
        bobs_link = await stack.start(bob_token)
        query = await stack.consent(bobs_link, veras_spotify)
        refused = await veras_browser.get(f"/api/spotify/callback?{query}")
    assert outcome(refused)["reason"] == ["browser_mismatch"]
    assert (await stored_rows(tokens_db))["spotify_credentials"] == 0


async def test_the_browser_that_started_the_flow_finishes_it_and_its_cookie_is_cleared(
    stack: Stack,
) -> None:
    user_token = FORGE.user_token(sub=str(uuid.uuid4()))
    started = await stack.tokens.post("/api/spotify/connect", headers=bearer(user_token))
    ((cookie, attributes),) = set_cookies(started)
    # Sent on the top-level GET back from Spotify (Lax), never to scripts, only to the callback;
    # plain http here, so neither Secure nor the __Host- prefix (browsers would drop it).
    assert {"httponly", "samesite=lax", "path=/api/spotify/callback", "max-age=600"} <= attributes
    assert "secure" not in attributes and not cookie.startswith("__Host-")
    assert not any(attribute.startswith("domain") for attribute in attributes)
    assert started.headers["cache-control"] == "no-store"
    # The cookie holds a hash binding the state, never the state itself.
    state = parse_qs(urlsplit(started.json()["authorize_url"]).query)["state"][0]
    assert state not in cookie

    query = await stack.consent(started.json()["authorize_url"], await stack.new_spotify_user())
    finished = await stack.tokens.get(f"/api/spotify/callback?{query}")
    assert outcome(finished) == {"spotify": ["connected"]}
    ((cleared, clearing),) = set_cookies(finished)
    assert cleared.split("=")[0] == cookie.split("=")[0] and "max-age=0" in clearing
    assert len(stack.tokens.cookies) == 0


async def test_two_flows_started_in_one_browser_each_finish(stack: Stack) -> None:
    """Two tabs: the second connect does not overwrite the first one's binding."""
    user_token = FORGE.user_token(sub=str(uuid.uuid4()))
    first = await stack.start(user_token)
    second = await stack.start(user_token)
    second_query = await stack.consent(second, await stack.new_spotify_user())
    first_query = await stack.consent(first, await stack.new_spotify_user())
    assert outcome(await stack.tokens.get(f"/api/spotify/callback?{first_query}")) == {
        "spotify": ["connected"]
    }
    assert outcome(await stack.tokens.get(f"/api/spotify/callback?{second_query}")) == {
        "spotify": ["connected"]
    }


async def test_over_https_the_cookie_is_secure_and_host_prefixed(
    tokens_db: Database, tokens_url: str, kafka_bootstrap: str
) -> None:
    public = "https://backbeat.example/api/spotify/callback"
    user_token = FORGE.user_token(sub=str(uuid.uuid4()))
    async with running_stack(tokens_url, kafka_bootstrap, redirect_uri=public) as stack:

        async def flow() -> tuple[str, str]:
            """A started flow's cookie (name=value) and the callback query after consent."""
            started = await stack.tokens.post("/api/spotify/connect", headers=bearer(user_token))
            ((pair, attributes),) = set_cookies(started)
            assert pair.startswith("__Host-")
            assert {"secure", "path=/", "samesite=lax", "httponly"} <= attributes
            assert not any(attribute.startswith("domain") for attribute in attributes)
            authorize = urlsplit(started.json()["authorize_url"])
            consent = await stack.spotify.get(
                f"{authorize.path}?{authorize.query}&fake_user={await stack.new_spotify_user()}"
            )
            return pair, urlsplit(consent.headers["location"]).query

        # Browsers send a Secure cookie back over https only: the test sends it by hand.
        _, query = await flow()
        async with stack.browser() as elsewhere:
            refused = await elsewhere.get(f"/api/spotify/callback?{query}")
        assert outcome(refused)["reason"] == ["browser_mismatch"]
        cookie, query = await flow()
        async with stack.browser() as same:
            finished = await same.get(f"/api/spotify/callback?{query}", headers={"cookie": cookie})
        assert outcome(finished) == {"spotify": ["connected"]}
