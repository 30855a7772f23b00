"""``/api/{auth,spotify,playback}/*``: every public request goes through the edge."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from backbeat.gateway.service.edge import Edge

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def proxy_router(edge: Edge) -> APIRouter:
    router = APIRouter()

    @router.api_route("/api/{path:path}", methods=METHODS, include_in_schema=False)
    async def forward(request: Request) -> Response:
        return await edge.handle(request)

    return router
