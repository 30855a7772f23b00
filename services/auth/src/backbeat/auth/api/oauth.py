"""``POST /oauth/token``: the OAuth 2.0 client-credentials grant (RFC 6749 section 4.4).

Form-encoded in, JSON out, and errors in RFC 6749's own shape (``{"error": ...}``) rather
than problem details, because OAuth clients expect that shape. The client authenticates with
HTTP Basic or with ``client_id``/``client_secret`` form fields, not both.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backbeat.auth.api.deps import ServiceTokensDep
from backbeat.auth.api.models import OAuthErrorResponse, ServiceTokenResponse
from backbeat.auth.domain.service_clients import GrantRefusal

router = APIRouter(tags=["oauth"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_FORM_BYTES = 8192

_DESCRIPTIONS = {
    GrantRefusal.INVALID_REQUEST: "the request is missing a parameter or repeats one",
    GrantRefusal.INVALID_CLIENT: "client authentication failed",
    GrantRefusal.UNAUTHORIZED_CLIENT: "this client may not use this grant",
    GrantRefusal.UNSUPPORTED_GRANT_TYPE: "only client_credentials is supported",
    GrantRefusal.INVALID_SCOPE: "a requested scope is not granted to this client",
    GrantRefusal.INVALID_TARGET: "the audience is not allowed for this client",
}

_FORM_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "audience": {"type": "string", "description": "target service"},
                        "scope": {"type": "string", "description": "space-separated scopes"},
                        "client_id": {"type": "string", "description": "if not in Basic"},
                        "client_secret": {"type": "string", "description": "if not in Basic"},
                    },
                }
            }
        },
    }
}

_ERROR_RESPONSE = {"model": OAuthErrorResponse}


class _OAuthRefusal(Exception):
    def __init__(self, refusal: GrantRefusal, description: str | None = None) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal
        self.description = description or _DESCRIPTIONS[refusal]


def _error(refusal: GrantRefusal, description: str) -> JSONResponse:
    headers = dict(NO_STORE)
    status = 400
    if refusal is GrantRefusal.INVALID_CLIENT:
        status = 401
        headers["WWW-Authenticate"] = 'Basic realm="backbeat", charset="UTF-8"'
    return JSONResponse(
        {"error": refusal.value, "error_description": description}, status, headers=headers
    )


# No client id holds control characters, and PostgreSQL text cannot hold NUL at all.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _single(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    if values is None:
        return None
    if len(values) != 1:
        raise _OAuthRefusal(GrantRefusal.INVALID_REQUEST, f"{name} is repeated")
    return values[0]


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    # ValueError: characters outside ASCII, which the header may carry as bytes 0x80-0xff.
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise _OAuthRefusal(GrantRefusal.INVALID_CLIENT) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _OAuthRefusal(GrantRefusal.INVALID_CLIENT)
    # RFC 6749 section 2.3.1: both parts are form-encoded before Basic encoding.
    return unquote_plus(client_id), unquote_plus(secret)


async def _read_form(request: Request) -> dict[str, list[str]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise _OAuthRefusal(GrantRefusal.INVALID_REQUEST, "the body must be form-encoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise _OAuthRefusal(GrantRefusal.INVALID_REQUEST, "the body is too large")
    try:
        return parse_qs(body.decode(), keep_blank_values=False, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise _OAuthRefusal(GrantRefusal.INVALID_REQUEST, "the body is not UTF-8") from exc


@router.post(
    "/oauth/token",
    response_model=ServiceTokenResponse,
    responses={400: _ERROR_RESPONSE, 401: _ERROR_RESPONSE},
    openapi_extra=_FORM_SCHEMA,
    summary="Client-credentials grant: a service token for one audience",
)
async def token(request: Request, service_tokens: ServiceTokensDep) -> JSONResponse:
    try:
        form = await _read_form(request)
        grant_type = _single(form, "grant_type")
        if grant_type is None:
            raise _OAuthRefusal(GrantRefusal.INVALID_REQUEST, "grant_type is required")
        if grant_type != "client_credentials":
            raise _OAuthRefusal(GrantRefusal.UNSUPPORTED_GRANT_TYPE)
        basic = _basic_credentials(request.headers.get("authorization", ""))
        form_id, form_secret = _single(form, "client_id"), _single(form, "client_secret")
        if basic is not None and form_secret is not None:
            raise _OAuthRefusal(
                GrantRefusal.INVALID_REQUEST, "use one client authentication method"
            )
        client_id, client_secret = basic or (form_id, form_secret)
        if not client_id or not client_secret or _CONTROL.search(client_id):
            raise _OAuthRefusal(GrantRefusal.INVALID_CLIENT)
        outcome = await service_tokens.grant(
            client_id, client_secret, _single(form, "audience"), _single(form, "scope")
        )
    except _OAuthRefusal as refusal:
        return _error(refusal.refusal, refusal.description)
    if isinstance(outcome, GrantRefusal):
        return _error(outcome, _DESCRIPTIONS[outcome])
    issued, grant = outcome
    body = ServiceTokenResponse(
        access_token=issued.token,
        expires_in=issued.expires_in,
        scope=" ".join(sorted(grant.scopes)),
    )
    return JSONResponse(body.model_dump(), headers=NO_STORE)
