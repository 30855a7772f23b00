"""The public key set: ``GET /.well-known/jwks.json``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backbeat.auth.api.models import Jwks
from backbeat.auth.use_cases.keyring import KeyRing

router = APIRouter(tags=["keys"])


@router.get(
    "/.well-known/jwks.json",
    response_model=Jwks,
    summary="Public keys that verify Backbeat access tokens",
)
async def jwks(request: Request) -> JSONResponse:
    keyring: KeyRing = request.app.state.keyring
    max_age = request.app.state.settings.jwks_max_age_s
    return JSONResponse(
        keyring.jwks(),
        headers={"Cache-Control": f"public, max-age={max_age}"},
        media_type="application/jwk-set+json",
    )
