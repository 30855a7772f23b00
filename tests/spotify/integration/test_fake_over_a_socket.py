"""The fake over real sockets on 127.0.0.1: uvicorn in-process, and the standalone command."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from backbeat.spotify import (
    SpotifyClient,
    SpotifySettings,
    TransientSpotifyError,
)
from backbeat.spotify.accounts import SpotifyAccounts
from backbeat.spotify.authorization import PkcePair, authorize_url
from backbeat.spotify_fake import FakeConfig, create_app

REDIRECT_URI = "http://127.0.0.1:8002/callback"


@pytest.fixture
async def fake_url() -> AsyncIterator[str]:
    app = create_app(FakeConfig(clock="manual", rate_limit=None))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    # uvicorn exposes only a flag for "listening", no event to wait on.
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await serving


async def _connected_client(fake_url: str, timeout_s: float = 5.0) -> tuple[SpotifyClient, str]:
    async with httpx.AsyncClient(base_url=fake_url) as control:
        app = (
            await control.post("/_control/clients", json={"redirect_uris": [REDIRECT_URI]})
        ).json()
        user_id = (await control.post("/_control/users", json={})).json()["id"]
        track = (await control.get("/_control/catalog", params={"limit": 1})).json()["items"][0]
        await control.put(f"/_control/users/{user_id}/playback", json={"track_id": track["id"]})
        settings = SpotifySettings(
            client_id=app["client_id"],
            client_secret=app["client_secret"],
            redirect_uri=REDIRECT_URI,
            accounts_base_url=fake_url,
            api_base_url=fake_url,
            timeout_s=timeout_s,
        )
        pkce = PkcePair.generate()
        url = authorize_url(
            settings,
            state="s",
            code_challenge=pkce.challenge,
            scopes=["user-read-playback-state"],
            extra_params={"fake_user": user_id},
        )
        code = httpx.URL((await control.get(url)).headers["location"]).params["code"]
    async with SpotifyAccounts(settings) as accounts:
        grant = await accounts.exchange_code(code, code_verifier=pkce.verifier)
    spotify = SpotifyClient(settings.web_api())
    return spotify, grant.access_token.get_secret_value()


async def test_client_reads_playback_over_a_real_socket(fake_url: str) -> None:
    spotify, token = await _connected_client(fake_url)
    async with spotify:
        state = await spotify.playback_state(token)
    assert state is not None and state.is_playing and state.track is not None


async def test_a_connection_reset_mid_response_is_transient(fake_url: str) -> None:
    spotify, token = await _connected_client(fake_url)
    async with httpx.AsyncClient(base_url=fake_url) as control:
        await control.post(
            "/_control/faults", json={"endpoint": "player", "kind": "connection_reset", "count": 1}
        )
    async with spotify:
        with pytest.raises(TransientSpotifyError) as failed:
            await spotify.playback_state(token)
        assert "connection failed" in failed.value.message
        assert await spotify.playback_state(token) is not None


async def test_latency_beyond_the_client_timeout_is_transient(fake_url: str) -> None:
    spotify, token = await _connected_client(fake_url, timeout_s=0.2)
    async with httpx.AsyncClient(base_url=fake_url) as control:
        await control.post(
            "/_control/faults",
            json={"endpoint": "player", "kind": "latency", "latency_ms": 1_000, "count": 1},
        )
    async with spotify:
        with pytest.raises(TransientSpotifyError) as failed:
            await spotify.playback_state(token)
        assert failed.value.message.startswith("timed out")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_fake_runs_standalone_from_the_command_line() -> None:
    port = _free_port()
    command = [
        sys.executable, "-m", "backbeat.spotify_fake",
        "--port", str(port), "--clock", "manual", "--listeners", "2", "--seed", "4",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                ping = httpx.get(f"http://127.0.0.1:{port}/_control/ping", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the fake did not start in 20 s"
                time.sleep(0.1)
        users = httpx.get(f"http://127.0.0.1:{port}/_control/users", timeout=5).json()["users"]
        assert ping.json() == {"pong": True}
        assert [user["id"] for user in users] == ["sim0001", "sim0002"]
        assert all(user["simulated"] for user in users)
    finally:
        process.terminate()
        process.wait(timeout=10)
