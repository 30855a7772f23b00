"""Fixtures: a fake Spotify in-process (manual clock), an app registered with it, and the
client library pointed at it, plus a helper that connects a user through /authorize."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from backbeat.spotify import SpotifyClient, SpotifySettings, TokenGrant
from backbeat.spotify.accounts import SpotifyAccounts
from backbeat.spotify.authorization import PkcePair, authorize_url
from backbeat.spotify_fake import FakeConfig, FakeSpotify, create_app

FAKE_URL = "http://spotify.fake"
REDIRECT_URI = "http://127.0.0.1:8002/callback"
ALL_SCOPES = (
    "user-read-private",
    "user-read-email",
    "user-read-playback-state",
    "user-read-currently-playing",
    "user-read-recently-played",
    "user-modify-playback-state",
)


@dataclass
class FakeSpotifyHarness:
    """Everything a test needs to talk to one fake."""

    fake: FakeSpotify
    http: httpx.AsyncClient
    client_id: str
    client_secret: str

    def settings(self, *, public: bool = False, **overrides: object) -> SpotifySettings:
        return SpotifySettings.model_validate(
            {
                "client_id": self.client_id,
                "client_secret": None if public else self.client_secret,
                "redirect_uri": REDIRECT_URI,
                "accounts_base_url": FAKE_URL,
                "api_base_url": FAKE_URL,
                **overrides,
            }
        )

    def spotify(self) -> SpotifyClient:
        """The Web API client: no app secret, users' access tokens only."""
        return SpotifyClient(self.settings().web_api(), http=self.http)

    def accounts(self, *, public: bool = False, **overrides: object) -> SpotifyAccounts:
        """The accounts service client (code exchange, refresh) of the app."""
        return SpotifyAccounts(self.settings(public=public, **overrides), http=self.http)

    async def create_user(self, **body: object) -> str:
        response = await self.http.post(f"{FAKE_URL}/_control/users", json=body)
        assert response.status_code == 201, response.text
        user_id: str = response.json()["id"]
        return user_id

    async def authorization_code(
        self, user_id: str, *, scopes: tuple[str, ...] = ALL_SCOPES, pkce: PkcePair | None = None
    ) -> str:
        pkce = pkce or PkcePair.generate()
        url = authorize_url(
            self.settings(),
            state="state-123",
            code_challenge=pkce.challenge,
            scopes=scopes,
            extra_params={"fake_user": user_id},
        )
        response = await self.http.get(url)
        assert response.status_code == 302, response.text
        location = httpx.URL(response.headers["location"])
        assert location.params["state"] == "state-123"
        return location.params["code"]

    async def connect(
        self, user_id: str, *, scopes: tuple[str, ...] = ALL_SCOPES, public: bool = False
    ) -> TokenGrant:
        pkce = PkcePair.generate()
        code = await self.authorization_code(user_id, scopes=scopes, pkce=pkce)
        return await self.accounts(public=public).exchange_code(code, code_verifier=pkce.verifier)

    async def advance(self, ms: int) -> None:
        response = await self.http.post(f"{FAKE_URL}/_control/clock/advance", json={"ms": ms})
        assert response.status_code == 200

    async def control(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        return await self.http.request(method, f"{FAKE_URL}/_control{path}", **kwargs)  # type: ignore[arg-type]


HarnessFactory = Callable[..., Awaitable[FakeSpotifyHarness]]


@pytest.fixture
async def make_harness() -> AsyncIterator[HarnessFactory]:
    clients: list[httpx.AsyncClient] = []

    async def build(**config: object) -> FakeSpotifyHarness:
        settings = {"clock": "manual", "rate_limit": None, **config}
        app = create_app(FakeConfig.model_validate(settings))
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=FAKE_URL)
        clients.append(http)
        response = await http.post("/_control/clients", json={"redirect_uris": [REDIRECT_URI]})
        assert response.status_code == 201
        body = response.json()
        return FakeSpotifyHarness(
            fake=app.fake,
            http=http,
            client_id=body["client_id"],
            client_secret=body["client_secret"],
        )

    yield build
    for http in clients:
        await http.aclose()


@pytest.fixture
async def harness(make_harness: HarnessFactory) -> FakeSpotifyHarness:
    return await make_harness()
