"""The fake's ASGI app factory: wires the service layer, the routes and fault injection."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from backbeat.spotify_fake.api import accounts, control, web_api
from backbeat.spotify_fake.api.fault_injection import FaultInjection
from backbeat.spotify_fake.api.responses import (
    ControlError,
    JsonResponse,
    WebApiError,
    problem,
    web_api_error,
)
from backbeat.spotify_fake.api.shapes import SpotifyShapes
from backbeat.spotify_fake.clock import Clock
from backbeat.spotify_fake.config import FakeConfig
from backbeat.spotify_fake.fake import FakeSpotify


def create_app(
    config: FakeConfig | None = None,
    *,
    clock: Clock | None = None,
    new_secret: Callable[[], str] | None = None,
) -> FaultInjection:
    """Build the fake. The returned ASGI app has the FakeSpotify at `.fake` for tests."""
    fake = FakeSpotify(config or FakeConfig(), clock=clock, new_secret=new_secret)
    app = FastAPI(
        title="Spotify fake",
        docs_url="/_control/docs",
        openapi_url="/_control/openapi.json",
        redoc_url=None,
    )
    app.state.fake = fake
    app.state.shapes = SpotifyShapes(fake.catalogue, fake.config.public_url)
    app.include_router(accounts.router)
    app.include_router(web_api.router)
    app.include_router(control.router)

    @app.exception_handler(WebApiError)
    async def _web_api_error(_: Request, error: WebApiError) -> Response:
        return error.response()

    @app.exception_handler(ControlError)
    async def _control_error(_: Request, error: ControlError) -> Response:
        return error.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, error: RequestValidationError) -> Response:
        if request.url.path.startswith("/v1/"):
            return web_api_error(400, "Bad request")
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in error.errors()
        ]
        detail = "The request body or query is invalid"
        return problem(422, "invalid_request", detail, {"errors": errors})

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, error: HTTPException) -> Response:
        if request.url.path.startswith("/_control/"):
            return problem(error.status_code, "http_error", str(error.detail))
        # Spotify's wording for paths and methods it does not serve.
        return web_api_error(error.status_code, "Service not found")

    @app.get("/health/live")
    async def _live() -> Response:
        return JsonResponse({"status": "ok"})

    @app.get("/health/ready")
    async def _ready() -> Response:
        return JsonResponse({"status": "ok"})

    return FaultInjection(app, fake)
