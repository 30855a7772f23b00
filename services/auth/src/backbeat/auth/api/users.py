"""User routes under ``/api/auth`` (the gateway forwards ``/api/auth/*`` unchanged)."""

from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from backbeat.auth.api.deps import AccountsDep, SettingsDep
from backbeat.auth.api.models import (
    ChangePasswordRequest,
    Credentials,
    MeResponse,
    RefreshRequest,
    SignupResponse,
    TokenResponse,
)
from backbeat.auth.service.accounts import TokenPair
from backbeat.authn import AUTH_PROBLEMS, UserPrincipal, current_user
from backbeat.authn.client_address import (
    CLIENT_ADDRESS_HEADER,
    AttestationRejected,
    AttestationRejection,
    verified_client_address,
)
from backbeat.runtime.problems import problem_responses

router = APIRouter(prefix="/api/auth", tags=["users"])
log = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


UserDep = Annotated[UserPrincipal, Depends(current_user)]


def client_address(request: Request, settings: SettingsDep) -> str:
    """Where the request came from, for throttling: the address the gateway signed for this
    request when the signature verifies, else the connection's own address. Never
    ``X-Forwarded-For`` or any header a caller can set: whoever reaches auth directly would
    otherwise count their failures against someone else's address."""
    connection = request.client.host if request.client else "unknown"
    attested = request.headers.getlist(CLIENT_ADDRESS_HEADER)
    if not attested:
        return connection
    try:
        if len(attested) != 1:
            raise AttestationRejected(AttestationRejection.MALFORMED)
        return verified_client_address(
            attested[0],
            request_id=request.state.request_id,
            secrets=settings.edge_secrets,
            now=int(time.time()),
            max_age_s=settings.edge_attestation_max_age_s,
        )
    except AttestationRejected as rejected:
        # A forgery sent straight to auth, or a gateway with another secret: the latter
        # would count everyone under the gateway's address, so it must show in the logs.
        log.warning(
            "client address attestation ignored",
            extra={"reason": rejected.reason.value, "connection_address": connection},
        )
        return connection


ClientAddressDep = Annotated[str, Depends(client_address)]


def _tokens(pair: TokenPair, response: Response) -> TokenResponse:
    response.headers.update(NO_STORE)
    return TokenResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
    )


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=SignupResponse,
    responses=problem_responses(409, 422),
    summary="Create an account",
)
async def signup(body: Credentials, accounts: AccountsDep) -> SignupResponse:
    return SignupResponse(user_id=await accounts.sign_up(body.email, body.password))


@router.post(
    "/login",
    response_model=TokenResponse,
    responses=problem_responses(401, 422, 429),
    summary="Sign in: an access token and a refresh token for a new session",
)
async def login(
    body: Credentials, response: Response, accounts: AccountsDep, address: ClientAddressDep
) -> TokenResponse:
    pair = await accounts.sign_in(body.email, body.password, address)
    return _tokens(pair, response)


@router.post(
    "/refresh",
    response_model=TokenResponse,
    responses=problem_responses(401, 422),
    summary="Trade a refresh token for new tokens; the old refresh token stops working",
)
async def refresh(body: RefreshRequest, response: Response, accounts: AccountsDep) -> TokenResponse:
    return _tokens(await accounts.refresh(body.refresh_token), response)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=AUTH_PROBLEMS,
    summary="Sign out: this session's refresh tokens stop working",
)
async def logout(user: UserDep, accounts: AccountsDep) -> Response:
    await accounts.sign_out(user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=MeResponse, responses=AUTH_PROBLEMS, summary="The signed-in user")
async def me(user: UserDep, accounts: AccountsDep) -> MeResponse:
    row = await accounts.profile(user)
    return MeResponse(user_id=row.id, email=row.email, created_at=row.created_at)


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=AUTH_PROBLEMS,
    summary="Delete the account; every service erases the user's data",
)
async def delete_me(user: UserDep, accounts: AccountsDep) -> Response:
    await accounts.delete_account(user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**AUTH_PROBLEMS, **problem_responses(422, 429)},
    summary="Change the password; every session of the user ends",
)
async def change_password(
    body: ChangePasswordRequest, user: UserDep, accounts: AccountsDep, address: ClientAddressDep
) -> Response:
    await accounts.change_password(user, body.current_password, body.new_password, address)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
