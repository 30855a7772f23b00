"""Hand-out latency and throughput of the tokens service with warm tokens.

Starts the Spotify fake and ``python -m backbeat.tokens`` on free loopback ports (the tokens
test database, ``BACKBEAT_TEST_TOKENS_DATABASE_URL``), connects users through the real OAuth
flow, then drives ``GET /internal/v1/users/{id}/spotify/access-token`` with concurrent
callers for a bounded time. Baselines, measured in the same run at the same concurrency:
- a bare HTTP endpoint of the same server (``/health/live``);
- a bare ``SELECT`` of the same credentials row through the same kind of pool.
The three take turns of ``--turn`` seconds until each has had ``--seconds``: on a shared
machine, a change of load then weighs on the hand-out and its baselines alike, instead of on
whichever ran while the machine was busy.

    python bench/tokens_handout.py [--users 50] [--concurrency 50] [--seconds 8] [--turn 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select

from backbeat.authn.testing import TokenForge
from backbeat.runtime.database import Database
from backbeat.runtime.testing import (
    ServiceProcess,
    StaticJson,
    delete_run_topics,
    http_load,
    http_load_into,
    percentile,
    spotify_fake,
)
from backbeat.tokens.store.migrate import upgrade
from backbeat.tokens.store.tables import credentials
from backbeat.tokens.testing import connect_in_a_browser, tokens_process

DATABASE_URL = os.environ.get(
    "BACKBEAT_TEST_TOKENS_DATABASE_URL",
    "postgresql+asyncpg://tokens:backbeat-dev-tokens@127.0.0.1:5432/tokens_test?ssl=disable",
)
KAFKA = os.environ.get("BACKBEAT_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
ISSUER = "http://bench.auth"
FORGE = TokenForge(issuer=ISSUER, user_audience="backbeat", service_audience="tokens")
REDIRECT = "http://127.0.0.1:8000/api/spotify/callback"


@dataclass
class Samples:
    """The latencies of one kind of call over all its turns, and the time the turns took."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": len(self.latencies),
            "requests_per_s": round(len(self.latencies) / self.elapsed_s, 1),
            "p50_ms": round(percentile(self.latencies, 0.50) * 1000, 3),
            "p99_ms": round(percentile(self.latencies, 0.99) * 1000, 3),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }


async def load(
    call: Callable[[int], Awaitable[None]], concurrency: int, seconds: float, into: Samples
) -> None:
    """``concurrency`` workers calling ``call`` back to back until the time is up."""
    stop = time.monotonic() + seconds

    async def worker(n: int) -> None:
        i = n
        while time.monotonic() < stop:
            started = time.perf_counter()
            await call(i)
            into.latencies.append(time.perf_counter() - started)
            i += concurrency

    started = time.monotonic()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    into.elapsed_s += time.monotonic() - started


async def http_turn(
    url: str,
    path_for: Callable[[int], str],
    concurrency: int,
    seconds: float,
    into: Samples,
    headers: Mapping[str, str] | None = None,
) -> None:
    """One turn of ``backbeat.runtime.testing.http_load``'s closed loop, keeping every
    latency so that the turns add up to one distribution."""
    into.elapsed_s += await http_load_into(
        url,
        path_for,
        into.latencies,
        into.statuses,
        headers=headers,
        concurrency=concurrency,
        seconds=seconds,
    )


def connect(fake: ServiceProcess, tokens: ServiceProcess, user_id: str) -> None:
    spotify_user = httpx.post(f"{fake.url}/_control/users", json={}).json()["id"]
    user = {"Authorization": f"Bearer {FORGE.user_token(sub=user_id)}"}
    done = connect_in_a_browser(tokens.url, fake.url, user, spotify_user)
    if not done.headers["location"].endswith("spotify=connected"):
        raise RuntimeError(f"connect failed: {done.headers['location']}")


def register_app(fake: ServiceProcess) -> dict[str, str]:
    response = httpx.post(f"{fake.url}/_control/clients", json={"redirect_uris": [REDIRECT]})
    response.raise_for_status()
    return dict(response.json())


async def run(users: int, concurrency: int, seconds: float, turn: float) -> dict[str, object]:
    await asyncio.to_thread(upgrade, DATABASE_URL)
    fake = spotify_fake("--rate-limit", "0").start()
    app = await asyncio.to_thread(register_app, fake)
    run_id = uuid.uuid4().hex[:8]
    with StaticJson(FORGE.jwks()) as jwks:
        tokens = tokens_process(
            database_url=DATABASE_URL,
            kafka_bootstrap=KAFKA,
            auth_issuer=ISSUER,
            jwks_url=jwks.url,
            spotify_url=fake.url,
            spotify_app=app,
            redirect_uri=REDIRECT,
            connections_topic=f"bench.spotify.connections.{run_id}",
            name="tokens-bench",
            settings={"LOG_LEVEL": "WARNING"},
        ).start()
        db = Database(DATABASE_URL)
        try:
            user_ids = [str(uuid.uuid4()) for _ in range(users)]
            for user_id in user_ids:
                await asyncio.to_thread(connect, fake, tokens, user_id)
            service = {"Authorization": f"Bearer {FORGE.service_token('watcher', 'tokens:read')}"}

            def hand_out_path(i: int) -> str:
                return f"/internal/v1/users/{user_ids[i % len(user_ids)]}/spotify/access-token"

            async def bare_select(i: int) -> None:
                async with db.session() as session:
                    await session.execute(
                        select(credentials).where(credentials.c.user_id == user_ids[i % users])
                    )

            # Warm-up: pools, caches, the verifier's key set.
            await http_load(
                tokens.url, hand_out_path, headers=service, concurrency=concurrency, seconds=1
            )
            handout, http_baseline, select_baseline = Samples(), Samples(), Samples()
            for _ in range(max(1, round(seconds / turn))):
                await http_turn(
                    tokens.url, hand_out_path, concurrency, turn, handout, headers=service
                )
                await http_turn(
                    tokens.url, lambda i: "/health/live", concurrency, turn, http_baseline
                )
                await load(bare_select, concurrency, turn, select_baseline)
        finally:
            await db.dispose()
            tokens.stop()
            fake.stop()
            await delete_run_topics(KAFKA, run_id)
    measured, bare_http = handout.as_dict(), http_baseline.as_dict()
    bare_select = {k: v for k, v in select_baseline.as_dict().items() if k != "statuses"}
    return {
        "bench": "tokens_handout",
        "results": {**measured, "users": users, "concurrency": concurrency, "turn_s": turn},
        "baseline": {"bare_http": bare_http, "bare_select": bare_select},
        "ratio": {
            "p50_vs_bare_http": round(measured["p50_ms"] / bare_http["p50_ms"], 2),
            "p99_vs_bare_http": round(measured["p99_ms"] / bare_http["p99_ms"], 2),
            "throughput_vs_bare_http": round(
                measured["requests_per_s"] / bare_http["requests_per_s"], 2
            ),
            "p50_vs_bare_select": round(measured["p50_ms"] / bare_select["p50_ms"], 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--turn", type=float, default=1.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.users, args.concurrency, args.seconds, args.turn))))


if __name__ == "__main__":
    main()
