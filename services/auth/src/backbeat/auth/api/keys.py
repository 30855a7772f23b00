"""The public key set: ``GET /.well-known/jwks.json``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from backbeat.auth.api.deps import KeyRingDep, SettingsDep
from backbeat.auth.api.models import Jwks

router = APIRouter(tags=["keys"])


@router.get(
    "/.well-known/jwks.json",
    response_model=Jwks,
    summary="Public keys that verify Backbeat access tokens",
)
async def jwks(keyring: KeyRingDep, settings: SettingsDep) -> JSONResponse:
    max_age = settings.jwks_max_age_s
    return JSONResponse(
        keyring.jwks(),
        headers={"Cache-Control": f"public, max-age={max_age}"},
        media_type="application/jwk-set+json",
    )
