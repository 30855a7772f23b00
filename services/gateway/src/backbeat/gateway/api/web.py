"""The web UI: one HTML page and its script and style sheet, shipped inside the package."""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"

# The page loads only its own script and style sheet and talks only to this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


def web_router() -> APIRouter:
    router = APIRouter()

    @router.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(WEB_ROOT / "index.html", headers=PAGE_HEADERS)

    return router


class _WebAssets(StaticFiles):
    """The UI's files with the page's security headers: ``/ui/index.html`` is the page too,
    and a script or style sheet must not be sniffed into something else."""

    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(PAGE_HEADERS)
        return response


def web_assets() -> StaticFiles:
    """Mounted at ``/ui``: ``index.html``, ``app.js``, ``style.css``."""
    return _WebAssets(directory=WEB_ROOT)
