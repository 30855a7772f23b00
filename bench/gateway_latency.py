"""The gateway's added latency for an authenticated request: GET /api/spotify/connection (a
user-token check plus one database read in the tokens service) sent through the gateway and
straight to the tokens service, interleaved in the same run over kept-alive connections.

Starts auth, tokens and a gateway as processes on loopback (the test databases of auth and
tokens, Kafka at BACKBEAT_KAFKA_BOOTSTRAP), signs up one user, then measures.

    python bench/gateway_latency.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid

import httpx

from backbeat.auth.store.migrate import upgrade as migrate_auth
from backbeat.runtime.testing import (
    ServiceProcess,
    delete_run_topics,
    free_port,
    percentile,
    service_process,
)
from backbeat.tokens.store.migrate import upgrade as migrate_tokens


def database_url(service: str) -> str:
    return os.environ.get(
        f"BACKBEAT_TEST_{service.upper()}_DATABASE_URL",
        f"postgresql+asyncpg://{service}:backbeat-dev-{service}@127.0.0.1:5432/"
        f"{service}_test?ssl=disable",
    )


def start(processes: list[ServiceProcess], process: ServiceProcess) -> ServiceProcess:
    processes.append(process)
    return process.start(timeout_s=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="per path, after warm-up")
    args = parser.parse_args()
    kafka = os.environ.get("BACKBEAT_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    migrate_auth(database_url("auth"))
    migrate_tokens(database_url("tokens"))
    common = {"BACKBEAT_ENVIRONMENT": "test", "BACKBEAT_KAFKA_BOOTSTRAP": kafka}
    run = uuid.uuid4().hex[:8]
    processes: list[ServiceProcess] = []
    try:
        auth_port = free_port()
        auth_url = f"http://127.0.0.1:{auth_port}"
        jwks = f"{auth_url}/.well-known/jwks.json"
        start(
            processes,
            service_process(
                "auth",
                {
                    "DATABASE_URL": database_url("auth"),
                    "ISSUER": auth_url,
                    "USERS_TOPIC": f"bench.auth.users.{run}",
                    "REVOCATIONS_TOPIC": f"bench.auth.revocations.{run}",
                },
                env=common,
                name="auth-bench",
                port=auth_port,
            ),
        )
        tokens = start(
            processes,
            service_process(
                "tokens",
                {
                    "DATABASE_URL": database_url("tokens"),
                    "AUTH_ISSUER": auth_url,
                    "AUTH_JWKS_URL": jwks,
                    "CONNECTIONS_TOPIC": f"bench.spotify.connections.{run}",
                    "USERS_TOPIC": f"bench.auth.users.{run}",
                    "REVOCATIONS_TOPIC": f"bench.auth.revocations.{run}",
                    "ERASURE_CONSUMER_GROUP": f"bench-tokens-erasure-{run}",
                },
                env=common,
                name="tokens-bench",
            ),
        )
        gateway = start(
            processes,
            service_process(
                "gateway",
                {
                    "AUTH_URL": auth_url,
                    "TOKENS_URL": tokens.url,
                    "AUTH_ISSUER": auth_url,
                    "AUTH_JWKS_URL": jwks,
                    "REVOCATIONS_TOPIC": f"bench.auth.revocations.{run}",
                    # The benchmark measures latency, not the limiter's refusals.
                    "USER_RATE_PER_S": "100000",
                    "USER_BURST": "100000",
                    "ADDRESS_RATE_PER_S": "100000",
                    "ADDRESS_BURST": "100000",
                    "PASSWORD_RATE_PER_S": "100000",
                    "PASSWORD_BURST": "100000",
                },
                env=common,
                name="gateway-bench",
            ),
        )
        email, password = f"bench-{uuid.uuid4().hex[:12]}@example.com", "bench password 123"
        with httpx.Client(timeout=30) as http:
            http.post(
                f"{gateway.url}/api/auth/signup", json={"email": email, "password": password}
            ).raise_for_status()
            login = http.post(
                f"{gateway.url}/api/auth/login", json={"email": email, "password": password}
            )
            login.raise_for_status()
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            targets = {
                "gateway": f"{gateway.url}/api/spotify/connection",
                "direct": f"{tokens.url}/api/spotify/connection",
            }
            samples: dict[str, list[float]] = {name: [] for name in targets}
            for n in range(200 + args.requests):
                # Interleaved, so drift on a busy machine falls on both paths alike.
                for name, url in targets.items():
                    started = time.perf_counter()
                    response = http.get(url, headers=headers)
                    elapsed = time.perf_counter() - started
                    if response.status_code != 200:
                        raise RuntimeError(f"{name}: {response.status_code} {response.text}")
                    if n >= 200:
                        samples[name].append(elapsed * 1000)
    finally:
        for process in reversed(processes):
            process.stop()
        asyncio.run(delete_run_topics(kafka, run))

    def summary(values: list[float]) -> dict[str, float]:
        return {
            "p50_ms": round(statistics.median(values), 3),
            "p99_ms": round(percentile(values, 0.99), 3),
            "mean_ms": round(statistics.fmean(values), 3),
        }

    through, direct = summary(samples["gateway"]), summary(samples["direct"])
    added = {
        "added_p50_ms": round(through["p50_ms"] - direct["p50_ms"], 3),
        "added_p99_ms": round(through["p99_ms"] - direct["p99_ms"], 3),
    }
    print(
        json.dumps(
            {
                "bench": "gateway_latency",
                "results": {
                    "requests_per_path": args.requests,
                    "path": "GET /api/spotify/connection",
                    **{f"gateway_{k}": v for k, v in through.items()},
                    **added,
                },
                "baseline": {f"direct_{k}": v for k, v in direct.items()},
                "ratio": {
                    "p50": round(through["p50_ms"] / direct["p50_ms"], 3),
                    "p99": round(through["p99_ms"] / direct["p99_ms"], 3),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
