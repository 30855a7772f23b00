"""Ending a session ends it everywhere within two seconds, through the gateway and at each
service behind it: after sign-out, a password change, a reused refresh token or the account's
deletion, the session's still-unexpired access token is refused by playback and tokens, and
its open live streams close. A deleted account's token also cannot connect Spotify again,
nothing of it stays at tokens, and the watcher is told to stop.

Each case prints how long the refusal took (revocation to the last of the refusals)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import func, select

from backbeat.runtime.database import Database
from backbeat.runtime.testing import values_of_key
from backbeat.tokens.store.tables import audit_log, connect_states, credentials
from tests.e2e.full_stack import FullStack
from tests.gateway.stack import PASSWORD, Account, connect_spotify, sign_up

pytestmark = pytest.mark.integration

BOUND_S = 2.0
NEW_PASSWORD = "another horse battery staple"

Revoke = Callable[[httpx.AsyncClient, Account], Awaitable[None]]


async def sign_out(http: httpx.AsyncClient, account: Account) -> None:
    response = await http.post("/api/auth/logout", headers=account.headers)
    assert response.status_code == 204, response.text


async def change_password(http: httpx.AsyncClient, account: Account) -> None:
    response = await http.post(
        "/api/auth/password",
        headers=account.headers,
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 204, response.text


async def reuse_refresh_token(http: httpx.AsyncClient, account: Account) -> None:
    # The first use rotates it; presenting it again means it was stolen: the session ends.
    rotated = await http.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})
    assert rotated.status_code == 200, rotated.text
    reused = await http.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})
    assert reused.status_code == 401, reused.text
    assert reused.json()["code"] == "refresh_token_reused"


async def delete_account(http: httpx.AsyncClient, account: Account) -> None:
    response = await http.delete("/api/auth/me", headers=account.headers)
    assert response.status_code == 204, response.text


CASES: dict[str, Revoke] = {
    "sign_out": sign_out,
    "password_change": change_password,
    "refresh_token_reuse": reuse_refresh_token,
    "account_deletion": delete_account,
}


async def open_stream(http: httpx.AsyncClient, url: str, account: Account) -> asyncio.Task[None]:
    """A live stream read to its end in the background; the task ends when the stream does."""
    opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def read() -> None:
        async with http.stream("GET", url, headers=account.headers) as stream:
            assert stream.status_code == 200
            opened.set_result(None)
            async for _ in stream.aiter_raw():
                pass

    task = asyncio.create_task(read())
    await asyncio.wait_for(asyncio.shield(opened), 10)
    return task


async def refused(http: httpx.AsyncClient, url: str, account: Account) -> bool:
    response = await http.get(url, headers=account.headers)
    if response.status_code == 401:
        assert response.json()["code"] == "session_revoked", response.text
        return True
    assert response.status_code in (200, 204), response.text
    return False


@pytest.mark.parametrize("case", list(CASES))
async def test_an_ended_session_is_refused_everywhere_within_two_seconds(
    whole_stack: FullStack, case: str
) -> None:
    gateway, urls = whole_stack.gateway.url, whole_stack.urls
    account = await asyncio.to_thread(sign_up, gateway)
    checks = {
        "gateway /api/playback/now": f"{gateway}/api/playback/now",
        "gateway /api/spotify/connection": f"{gateway}/api/spotify/connection",
        "playback /api/playback/now": f"{urls['playback']}/api/playback/now",
        "tokens /api/spotify/connection": f"{urls['tokens']}/api/spotify/connection",
    }
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as http:
        for url in checks.values():
            assert not await refused(http, url, account)
        streams = {
            "gateway stream": await open_stream(http, f"{gateway}/api/playback/stream", account),
            "playback stream": await open_stream(
                http, f"{urls['playback']}/api/playback/stream", account
            ),
        }

        await CASES[case](http, account)
        started = time.monotonic()
        pending = dict(checks)
        closed: dict[str, float] = {}
        took: dict[str, float] = {}
        while pending or len(closed) < len(streams):
            for name, url in list(pending.items()):
                if await refused(http, url, account):
                    took[name] = time.monotonic() - started
                    del pending[name]
            for name, stream in streams.items():
                if name not in closed and stream.done():
                    stream.result()  # it ended, not failed
                    closed[name] = time.monotonic() - started
            elapsed = time.monotonic() - started
            still_open = sorted(set(streams) - set(closed))
            assert elapsed < BOUND_S, f"after {elapsed:.2f} s: {sorted(pending)} {still_open}"
            await asyncio.sleep(0.02)

    slowest = max([*took.values(), *closed.values()])
    print(
        json.dumps(
            {
                "revocation": case,
                "slowest_s": round(slowest, 3),
                **{name: round(s, 3) for name, s in {**took, **closed}.items()},
            }
        )
    )
    assert slowest < BOUND_S


async def test_a_deleted_account_cannot_connect_spotify_again_and_nothing_of_it_stays(
    whole_stack: FullStack, database_urls: dict[str, str], kafka_bootstrap: str
) -> None:
    gateway, fake, urls = whole_stack.gateway.url, whole_stack.fake.url, whole_stack.urls
    account = await asyncio.to_thread(sign_up, gateway)
    await asyncio.to_thread(connect_spotify, gateway, fake, account)
    tokens_db = Database(database_urls["tokens"])

    async def rows() -> dict[str, int]:
        async with tokens_db.session() as session:
            return {
                table.name: (
                    await session.execute(
                        select(func.count())
                        .select_from(table)
                        .where(table.c.user_id == account.user_id)
                    )
                ).scalar_one()
                for table in (credentials, audit_log, connect_states)
            }

    try:
        async with httpx.AsyncClient(base_url=gateway, timeout=30) as http:
            # The watcher picks the connection up and asks tokens for the user's token.
            started = time.monotonic()
            while (await rows())["audit_log"] == 0:
                assert time.monotonic() - started < 30, "the watcher never asked for a token"
                await asyncio.sleep(0.2)

            await delete_account(http, account)
            started = time.monotonic()
            while not await refused(http, f"{urls['tokens']}/api/spotify/connection", account):
                assert time.monotonic() - started < BOUND_S, "tokens still accepts the token"
                await asyncio.sleep(0.02)
            # Still unexpired, and signed by auth: both the gateway and tokens refuse it.
            via_gateway = await http.post("/api/spotify/connect", headers=account.headers)
            direct = await http.post(
                f"{urls['tokens']}/api/spotify/connect", headers=account.headers
            )
            started = time.monotonic()
            while await rows() != {"spotify_credentials": 0, "audit_log": 0, "connect_states": 0}:
                assert time.monotonic() - started < 10, "the account was not erased at tokens"
                await asyncio.sleep(0.1)
            erased_s = time.monotonic() - started
    finally:
        await tokens_db.dispose()

    assert via_gateway.status_code == 401 and direct.status_code == 401, (
        via_gateway.text,
        direct.text,
    )
    # The watcher's last word on the user: the tombstone that stops its polling.
    started = time.monotonic()
    while True:
        records = await values_of_key(
            kafka_bootstrap, whole_stack.connections_topic, account.user_id
        )
        if records and records[-1] is None:
            break
        assert time.monotonic() - started < 5, "no tombstone for the watcher within 5 s"
        await asyncio.sleep(0.1)
    print(json.dumps({"erased_at_tokens_s": round(erased_s, 3)}))
