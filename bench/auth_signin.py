"""Sign-in latency through the running auth service on loopback, with its real database:
p50/p99 of ``POST /api/auth/login``, against the argon2id verification alone (the floor set
by the password hash) measured in the same run.

Starts ``python -m backbeat.auth`` itself on a free loopback port against the test database
(``BACKBEAT_TEST_AUTH_DATABASE_URL``), creates one user, signs in sequentially for a bounded
time and deletes the user again.

    python bench/auth_signin.py [--seconds 15] [--max-requests 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid

import httpx

from backbeat.auth.domain.passwords import Argon2Params, PasswordHasher
from backbeat.auth.settings import AuthSettings
from backbeat.auth.store.migrate import upgrade
from backbeat.runtime.testing import percentile

DATABASE_URL = os.environ.get(
    "BACKBEAT_TEST_AUTH_DATABASE_URL",
    "postgresql+asyncpg://auth:backbeat-dev-auth@127.0.0.1:5432/auth_test?ssl=disable",
)
PASSWORD = "bench password 123"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def measure(base: str, seconds: float, max_requests: int) -> list[float]:
    email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        deadline = time.monotonic() + 30
        while True:
            try:
                if (await http.get("/health/ready")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("auth did not become ready")
            await asyncio.sleep(0.2)
        created = await http.post("/api/auth/signup", json={"email": email, "password": PASSWORD})
        created.raise_for_status()
        body = {"email": email, "password": PASSWORD}
        for _ in range(3):  # warm-up: connections, caches
            (await http.post("/api/auth/login", json=body)).raise_for_status()
        samples: list[float] = []
        stop = time.monotonic() + seconds
        last: dict[str, str] = {}
        while time.monotonic() < stop and len(samples) < max_requests:
            started = time.perf_counter()
            response = await http.post("/api/auth/login", json=body)
            samples.append(time.perf_counter() - started)
            response.raise_for_status()
            last = response.json()
        await http.delete(
            "/api/auth/me", headers={"Authorization": f"Bearer {last['access_token']}"}
        )
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--max-requests", type=int, default=500)
    args = parser.parse_args()

    upgrade(DATABASE_URL)
    settings = AuthSettings(database_url=DATABASE_URL)
    hasher = PasswordHasher(
        Argon2Params(
            settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism
        )
    )
    stored = hasher.hash(PASSWORD)
    floor = []
    for _ in range(20):
        started = time.perf_counter()
        hasher.verify(stored, PASSWORD)
        floor.append(time.perf_counter() - started)

    port = free_port()
    env = {
        **os.environ,
        "BACKBEAT_AUTH_DATABASE_URL": DATABASE_URL,
        "BACKBEAT_AUTH_PORT": str(port),
        "BACKBEAT_AUTH_HOST": "127.0.0.1",
        "BACKBEAT_AUTH_OUTBOX_RELAY_ENABLED": "false",
        "BACKBEAT_AUTH_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen([sys.executable, "-m", "backbeat.auth"], env=env)
    try:
        samples = asyncio.run(measure(f"http://127.0.0.1:{port}", args.seconds, args.max_requests))
    finally:
        server.terminate()
        server.wait(timeout=15)

    p50, p99 = percentile(samples, 0.50), percentile(samples, 0.99)
    argon2_p50 = statistics.median(floor)
    print(f"{len(samples)} sign-ins: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    print(
        json.dumps(
            {
                "bench": "auth_signin",
                "results": {
                    "requests": len(samples),
                    "p50_ms": round(p50 * 1000, 2),
                    "p99_ms": round(p99 * 1000, 2),
                    "mean_ms": round(statistics.fmean(samples) * 1000, 2),
                    "argon2": f"m={settings.argon2_memory_kib}KiB,t={settings.argon2_time_cost},"
                    f"p={settings.argon2_parallelism}",
                },
                "baseline": {"argon2id_verify_p50_ms": round(argon2_p50 * 1000, 2)},
                "ratio": {"signin_p50_vs_argon2id_verify": round(p50 / argon2_p50, 3)},
            }
        )
    )


if __name__ == "__main__":
    main()
