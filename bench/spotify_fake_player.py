"""Throughput of the Spotify fake's `GET /v1/me/player` on one process, next to a bare route.

Starts the fake (uvicorn, one process, rate limit off, 1,000 simulated listeners) on a free
127.0.0.1 port, connects every listener through /authorize and /api/token, then drives
`/v1/me/player` with many keep-alive connections for a fixed time, and `/_control/ping` the
same way as the baseline. Prints one JSON line last. Run: `python bench/spotify_fake_player.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx

HOST = "127.0.0.1"
REDIRECT_URI = "http://127.0.0.1:8002/callback"


@dataclass
class Phase:
    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    elapsed_s: float = 0.0

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.latencies_s)
        return {
            "requests_per_s": round(len(ordered) / self.elapsed_s, 1),
            "p50_ms": round(statistics.median(ordered) * 1000, 3),
            "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 3),
            "requests": len(ordered),
        }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def start_fake(port: int, listeners: int) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "backbeat.spotify_fake",
        "--host", HOST, "--port", str(port),
        "--listeners", str(listeners), "--rate-limit", "0", "--log-level", "error",
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def wait_until_up(base: str, process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the fake exited with {process.returncode}")
        try:
            httpx.get(f"{base}/_control/ping", timeout=1).raise_for_status()
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the fake did not come up")


async def connect_users(base: str, listeners: int) -> list[str]:
    """Access tokens for every simulated listener, through the real authorization-code flow."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        app = (await http.post("/_control/clients", json={"redirect_uris": [REDIRECT_URI]})).json()
        gate = asyncio.Semaphore(32)

        async def connect(user_id: str) -> str:
            verifier = secrets.token_urlsafe(64)
            digest = hashlib.sha256(verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            query = urlencode(
                {
                    "client_id": app["client_id"],
                    "response_type": "code",
                    "redirect_uri": REDIRECT_URI,
                    "state": "bench",
                    "scope": "user-read-playback-state",
                    "code_challenge_method": "S256",
                    "code_challenge": challenge,
                    "fake_user": user_id,
                }
            )
            async with gate:
                redirect = await http.get(f"/authorize?{query}")
                code = httpx.URL(redirect.headers["location"]).params["code"]
                tokens = await http.post(
                    "/api/token",
                    data={
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": REDIRECT_URI,
                        "client_id": app["client_id"],
                        "code_verifier": verifier,
                    },
                )
            tokens.raise_for_status()
            token: str = tokens.json()["access_token"]
            return token

        users = [f"sim{n:04d}" for n in range(1, listeners + 1)]
        return list(await asyncio.gather(*(connect(user_id) for user_id in users)))


async def hammer(
    port: int, path: str, tokens: list[str], connections: int, seconds: float
) -> Phase:
    """Keep-alive HTTP/1.1 connections sending back to back; a minimal client so that the
    load generator costs far less than the server it measures."""
    phase = Phase()
    stop_at = time.perf_counter() + seconds

    async def connection(index: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        turn = index
        try:
            while time.perf_counter() < stop_at:
                token = tokens[turn % len(tokens)]
                turn += connections
                request = (
                    f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                    f"Authorization: Bearer {token}\r\n\r\n"
                ).encode()
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                phase.latencies_s.append(time.perf_counter() - started)
                phase.statuses[int(head[9:12])] += 1
        finally:
            writer.close()
            await writer.wait_closed()

    began = time.perf_counter()
    await asyncio.gather(*(connection(i) for i in range(connections)))
    phase.elapsed_s = time.perf_counter() - began
    return phase


async def measure(
    port: int, tokens: list[str], connections: int, seconds: float
) -> dict[str, object]:
    await hammer(port, "/_control/ping", tokens, connections, 1.0)  # warm-up
    baseline = await hammer(port, "/_control/ping", tokens, connections, seconds)
    await hammer(port, "/v1/me/player", tokens, connections, 1.0)
    player = await hammer(port, "/v1/me/player", tokens, connections, seconds)
    unexpected = {s: n for s, n in player.statuses.items() if s not in (200, 204)}
    if unexpected:
        raise RuntimeError(f"unexpected statuses from /v1/me/player: {unexpected}")
    results = player.summary()
    base = baseline.summary()
    return {
        "bench": "spotify_fake_player",
        "results": {
            **results,
            "status_200": player.statuses[200],
            "status_204": player.statuses[204],
            "users": len(tokens),
            "connections": connections,
            "seconds": seconds,
            "cpus": os.cpu_count(),
        },
        "baseline": {"route": "/_control/ping", **base},
        "ratio": {
            key: round(results[key] / base[key], 3)
            for key in ("requests_per_s", "p50_ms", "p99_ms")
            if base[key]
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    port = free_port()
    base = f"http://{HOST}:{port}"
    process = start_fake(port, args.users)
    try:
        wait_until_up(base, process)
        tokens = asyncio.run(connect_users(base, args.users))
        report = asyncio.run(measure(port, tokens, args.connections, args.seconds))
    finally:
        process.terminate()
        process.wait(timeout=10)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
