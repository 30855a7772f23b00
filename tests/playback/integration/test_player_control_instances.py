"""Player control end to end with the real tokens service: a user connects Spotify through
the OAuth flow (the fake and tokens as processes), and pausing from the playback API pauses
their player at the fake."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from backbeat.playback.app import create_app
from backbeat.playback.settings import PlaybackSettings
from backbeat.runtime.testing import ServiceProcess, StaticJson, spotify_fake
from backbeat.tokens.store.migrate import upgrade as upgrade_tokens
from backbeat.tokens.testing import connect_in_a_browser, tokens_process
from tests.playback.integration.service import (
    FORGE,
    ISSUER,
    auth_token_endpoint,
    bearer,
    new_user,
    served,
)

pytestmark = pytest.mark.integration

REDIRECT_URI = "http://127.0.0.1:8000/api/spotify/callback"


class Deployment:
    def __init__(self, fake: ServiceProcess, tokens: ServiceProcess) -> None:
        self.fake = fake
        self.tokens = tokens

    def connect(self, user_id: str) -> str:
        """Connect ``user_id`` to a new Spotify user through tokens' OAuth flow."""
        spotify_user = str(httpx.post(f"{self.fake.url}/_control/users", json={}).json()["id"])
        callback = connect_in_a_browser(
            self.tokens.url, self.fake.url, bearer(user_id), spotify_user
        )
        assert callback.headers["location"].endswith("?spotify=connected"), callback.headers
        return spotify_user


@pytest.fixture
def deployment(database_urls: dict[str, str], kafka_bootstrap: str) -> Iterator[Deployment]:
    tokens_url = database_urls["tokens"]
    upgrade_tokens(tokens_url)
    fake = spotify_fake("--rate-limit", "0").start()
    client = httpx.post(f"{fake.url}/_control/clients", json={"redirect_uris": [REDIRECT_URI]})
    app = client.json()
    with StaticJson(FORGE.jwks()) as jwks:
        tokens = tokens_process(
            database_url=tokens_url,
            kafka_bootstrap=kafka_bootstrap,
            auth_issuer=ISSUER,
            jwks_url=jwks.url,
            spotify_url=fake.url,
            spotify_app=app,
            redirect_uri=REDIRECT_URI,
            connections_topic=f"test.spotify.connections.{uuid.uuid4().hex}",
            name="tokens-for-playback",
        )
        try:
            tokens.start(timeout_s=60)
            yield Deployment(fake, tokens)
        finally:
            tokens.stop()
            fake.stop()


async def test_pause_from_the_api_pauses_the_users_player_at_spotify(
    deployment: Deployment, api_settings: PlaybackSettings
) -> None:
    user = new_user()
    spotify_user = deployment.connect(user)
    never_connected = new_user()
    async with httpx.AsyncClient(base_url=deployment.fake.url) as fake:
        track_id = (await fake.get("/_control/catalog", params={"limit": 1})).json()["items"][0]
        await fake.put(
            f"/_control/users/{spotify_user}/playback",
            json={"track_id": track_id["id"], "is_playing": True},
        )
        settings = api_settings.model_copy(
            update={"tokens_url": deployment.tokens.url, "spotify_api_url": deployment.fake.url}
        )
        auth = httpx.AsyncClient(transport=httpx.ASGITransport(app=auth_token_endpoint()))
        async with (
            auth,
            served(create_app(settings, auth_keys=FORGE.key_source(), auth_http=auth)) as url,
        ):
            async with httpx.AsyncClient(base_url=url, timeout=30) as api:
                paused = await api.post("/api/playback/player/pause", headers=bearer(user))
                player = (await fake.get(f"/_control/users/{spotify_user}")).json()["player"]
                refused = await api.post(
                    "/api/playback/player/pause", headers=bearer(never_connected)
                )

    assert paused.status_code == 204, paused.text
    assert player["item_id"] == track_id["id"] and player["is_playing"] is False
    assert refused.status_code == 409 and refused.json()["code"] == "spotify_not_connected"
