"""A stand-in for the playback service's public API, for gateway and web UI tests while the
real one is being built: same paths, same token checks, with a control API under
``/_standin/`` to set what a user is playing and to push live events.

Run: ``python -m tests.gateway.standin_playback --port N --issuer I --jwks-url U``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Annotated, Any

import uvicorn
from fastapi import Body, Depends, FastAPI, Request, Response
from fastapi.responses import StreamingResponse

from backbeat.authn import JwksCache, TokenVerifier, UserPrincipal, current_user, install_verifier
from backbeat.runtime.http import create_service_app

User = Annotated[UserPrincipal, Depends(current_user)]
END = object()


class Playback:
    def __init__(self) -> None:
        self.now: dict[str, dict[str, Any]] = {}
        self.plays: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.streams: dict[str, list[asyncio.Queue[object]]] = defaultdict(list)
        self.commands: dict[str, list[str]] = defaultdict(list)

    def publish(self, user_id: str, item: object) -> int:
        for queue in self.streams[user_id]:
            queue.put_nowait(item)
        return len(self.streams[user_id])


def create_app(issuer: str, jwks_url: str) -> FastAPI:
    app = create_service_app(service="playback-standin", title="Backbeat playback (stand-in)")
    keys = JwksCache(jwks_url)
    install_verifier(
        app, TokenVerifier(keys, issuer=issuer, user_audience="backbeat", service_audience=None)
    )
    state = Playback()

    @app.get("/api/playback/now")
    async def now(user: User) -> Response:
        current = state.now.get(str(user.user_id))
        if current is None:
            return Response(status_code=204)
        return Response(json.dumps(current), media_type="application/json")

    @app.get("/api/playback/history")
    async def history(user: User, limit: int = 50) -> dict[str, Any]:
        return {"items": state.plays[str(user.user_id)][:limit], "next_cursor": None}

    @app.get("/api/playback/stats")
    async def stats(user: User) -> dict[str, Any]:
        plays = state.plays[str(user.user_id)]
        return {
            "plays": len(plays),
            "listened_ms": sum(p["listened_ms"] for p in plays),
            "top_tracks": [],
            "top_artists": [],
        }

    @app.get("/api/playback/stream")
    async def stream(user: User) -> StreamingResponse:
        queue: asyncio.Queue[object] = asyncio.Queue()
        user_id = str(user.user_id)
        state.streams[user_id].append(queue)

        async def events() -> AsyncIterator[bytes]:
            try:
                yield b"event: ready\ndata: {}\n\n"
                sequence = 0
                while True:
                    item = await queue.get()
                    if item is END:
                        return
                    sequence += 1
                    yield f"id: {sequence}\ndata: {json.dumps(item)}\n\n".encode()
            finally:
                state.streams[user_id].remove(queue)

        return StreamingResponse(events(), media_type="text/event-stream")

    def player(action: str) -> None:
        async def command(user: User) -> Response:
            user_id = str(user.user_id)
            state.commands[user_id].append(action)
            if action in ("pause", "play") and user_id in state.now:
                state.now[user_id] = {**state.now[user_id], "is_playing": action == "play"}
                state.publish(user_id, state.now[user_id])
            return Response(status_code=204)

        app.add_api_route(
            f"/api/playback/player/{action}", command, methods=["POST"], status_code=204
        )

    for action in ("play", "pause", "next", "previous"):
        player(action)

    @app.get("/api/playback/slow")
    async def slow(seconds: float = 30.0) -> dict[str, str]:
        await asyncio.sleep(seconds)
        return {"status": "late"}

    @app.api_route("/api/playback/fail", methods=["GET", "POST"], include_in_schema=False)
    async def fail() -> None:
        # A fault nobody foresaw, its message holding something internal.
        raise RuntimeError("stand-in fault at postgresql://playback:hunter2@db.internal/x")

    @app.api_route("/api/playback/echo", methods=["GET", "POST"], include_in_schema=False)
    async def echo(request: Request) -> dict[str, Any]:
        body = await request.body()
        return {
            "request_id": request.headers.get("x-request-id"),
            "forwarded_for": request.headers.get("x-forwarded-for"),
            "authorization": request.headers.get("authorization"),
            "body_bytes": len(body),
        }

    @app.put("/_standin/users/{user_id}/now", status_code=204)
    async def set_now(user_id: str, now: Annotated[dict[str, Any] | None, Body()]) -> Response:
        if now is None:
            state.now.pop(user_id, None)
        else:
            state.now[user_id] = now
        return Response(status_code=204)

    @app.post("/_standin/users/{user_id}/events")
    async def push(user_id: str, event: Annotated[dict[str, Any], Body()]) -> dict[str, int]:
        return {"streams": state.publish(user_id, event)}

    @app.post("/_standin/users/{user_id}/end-streams")
    async def end(user_id: str) -> dict[str, int]:
        return {"streams": state.publish(user_id, END)}

    @app.get("/_standin/users/{user_id}")
    async def inspect(user_id: str) -> dict[str, Any]:
        return {"streams": len(state.streams[user_id]), "commands": state.commands[user_id]}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--jwks-url", required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.issuer, args.jwks_url),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
