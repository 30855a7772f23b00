"""``GET /api/openapi.json``: the public API document, merged from the services' documents.

Each service's document is fetched when first needed and kept for ``openapi_cache_s``; a
service that cannot be reached keeps its last good document, and until it has one its
operations are left out (and named in the ``x-missing-operations`` response header).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backbeat.gateway.adapters.forward import Forwarder
from backbeat.gateway.domain.openapi import Document, MergedDocument, merge_documents
from backbeat.gateway.domain.routes import Upstream
from backbeat.runtime.problems import Problem

log = logging.getLogger(__name__)

SERVICE_DOCUMENT_PATH = "/openapi.json"


@dataclass
class _Cached:
    document: Document
    fetched_at: float


class ServiceDocuments:
    """The services' OpenAPI documents, fetched lazily and cached."""

    def __init__(
        self,
        forwarder: Forwarder,
        *,
        max_age_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.forwarder = forwarder
        self.max_age_s = max_age_s
        self.clock = clock
        self._cache: dict[Upstream, _Cached] = {}
        self._lock = asyncio.Lock()

    async def merged(self) -> MergedDocument:
        async with self._lock:
            await asyncio.gather(*(self._refresh(upstream) for upstream in Upstream))
            documents = {upstream: cached.document for upstream, cached in self._cache.items()}
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        return merge_documents(documents, problem)

    async def _refresh(self, upstream: Upstream) -> None:
        cached = self._cache.get(upstream)
        if cached is not None and self.clock() - cached.fetched_at < self.max_age_s:
            return
        try:
            document = await self.forwarder.get_json(upstream, SERVICE_DOCUMENT_PATH)
        except (httpx.HTTPError, ValueError) as exc:
            log.warning(
                "service API document unavailable",
                extra={"upstream": upstream.value, "error": type(exc).__name__},
            )
            return
        if isinstance(document, dict):
            self._cache[upstream] = _Cached(document, self.clock())


def openapi_router(documents: ServiceDocuments) -> APIRouter:
    router = APIRouter()

    @router.get("/api/openapi.json", include_in_schema=False)
    async def public_api_document(request: Request) -> JSONResponse:
        merged = await documents.merged()
        headers: dict[str, Any] = {"cache-control": "no-cache"}
        if merged.missing:
            headers["x-missing-operations"] = ", ".join(merged.missing)
        return JSONResponse(merged.document, headers=headers)

    return router
