"""An upstream that shows the gateway's forwarding from the other side, for the gateway's
own tests: what a service receives (headers, body size), an answer that comes too late, and
a fault nobody foresaw. A gateway points its playback route at it (``Stack.echo_gateway``);
playback's own behaviour is tested against the real service.

Run: ``python -m tests.gateway.echo_upstream --port N``.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import uvicorn
from fastapi import FastAPI, Request

from backbeat.runtime.http import create_service_app


def create_app() -> FastAPI:
    app = create_service_app(service="echo-upstream", title="Echo upstream (gateway tests)")

    @app.api_route("/api/playback/echo", methods=["GET", "POST"], include_in_schema=False)
    async def echo(request: Request) -> dict[str, Any]:
        body = await request.body()
        return {
            "request_id": request.headers.get("x-request-id"),
            "forwarded_for": request.headers.get("x-forwarded-for"),
            "authorization": request.headers.get("authorization"),
            "body_bytes": len(body),
        }

    @app.get("/api/playback/slow")
    async def slow(seconds: float = 30.0) -> dict[str, str]:
        await asyncio.sleep(seconds)
        return {"status": "late"}

    @app.api_route("/api/playback/fail", methods=["GET", "POST"], include_in_schema=False)
    async def fail() -> None:
        # A fault nobody foresaw, its message holding something internal.
        raise RuntimeError("upstream fault at postgresql://playback:hunter2@db.internal/x")

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
