"""The playback service with player control wired to the in-process Spotify fake and a
stand-in of tokens' hand-out, served on a loopback socket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from backbeat.playback.app import create_app
from backbeat.playback.settings import PlaybackSettings
from backbeat.spotify_fake.api.fault_injection import FaultInjection
from tests.playback.integration import spotify
from tests.playback.integration.service import (
    FORGE,
    HandOuts,
    auth_token_endpoint,
    bearer,
    new_user,
    served,
)


@dataclass
class Rig:
    api: httpx.AsyncClient
    spotify: httpx.AsyncClient
    fake: FaultInjection
    hand_outs: HandOuts
    app: FastAPI
    url: str

    async def connected_user(
        self, *, product: str = "premium", playing: bool | None = True
    ) -> tuple[str, str]:
        """A Backbeat user connected to a new Spotify user whose player plays a track."""
        created = await self.spotify.post("/_control/users", json={"product": product})
        spotify_user = created.json()["id"]
        if playing is not None:
            track_id = (await spotify.first_tracks(self.spotify, 1))[0]
            await spotify.play(self.spotify, spotify_user, track_id, playing=playing)
        user = new_user()
        self.hand_outs.tokens[user] = [spotify.access_token(self.fake, spotify_user)]
        return user, spotify_user

    async def command(self, user: str, command: str) -> httpx.Response:
        return await self.api.post(f"/api/playback/player/{command}", headers=bearer(user))


@asynccontextmanager
async def rig(api_settings: PlaybackSettings) -> AsyncIterator[Rig]:
    fake = spotify.fake_spotify()
    hand_outs = HandOuts()
    async with (
        spotify.spotify_http(fake) as spotify_http,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=hand_outs.app())) as tokens_http,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=auth_token_endpoint())) as auth_http,
    ):
        app = create_app(
            api_settings,
            auth_keys=FORGE.key_source(),
            spotify_http=spotify_http,
            tokens_http=tokens_http,
            auth_http=auth_http,
        )
        async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as api:
            yield Rig(api, spotify.spotify_http(fake), fake, hand_outs, app, url)
