"""Response helpers: fast JSON, and the error bodies Spotify's two services send."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JsonResponse(Response):
    """JSON through orjson: the player endpoints are the fake's hot path."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class WebApiError(Exception):
    """An error the Web API answers with `{"error": {"status", "message"[, "reason"]}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        return web_api_error(self.status, self.message, self.reason, self.headers)


def web_api_error(
    status: int, message: str, reason: str | None = None, headers: dict[str, str] | None = None
) -> JsonResponse:
    error: dict[str, Any] = {"status": status, "message": message}
    if reason is not None:
        error["reason"] = reason
    return JsonResponse({"error": error}, status_code=status, headers=headers)


def oauth_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> JsonResponse:
    """The accounts service's error body (RFC 6749 section 5.2)."""
    return JsonResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


class ControlError(Exception):
    """A refused control call, answered as RFC 9457 problem details with a stable code."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail

    def response(self) -> JsonResponse:
        return problem(self.status, self.code, self.detail)


def problem(
    status: int, code: str, detail: str, extra: dict[str, Any] | None = None
) -> JsonResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": code.replace("_", " "),
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update(extra or {})
    return JsonResponse(body, status_code=status, media_type="application/problem+json")
