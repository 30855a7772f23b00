"""Endpoints for other services (service tokens only; the gateway never routes them)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends

from backbeat.auth.api.deps import DatabaseDep
from backbeat.auth.api.models import UserExistsResponse
from backbeat.auth.store import users as user_store
from backbeat.authn import AUTH_PROBLEMS, ServicePrincipal, require_service
from backbeat.runtime.problems import ProblemError, problem_responses

router = APIRouter(prefix="/internal/v1", tags=["internal"])

USERS_READ = "auth:users.read"


@router.get(
    "/users/{user_id}",
    response_model=UserExistsResponse,
    responses={**AUTH_PROBLEMS, **problem_responses(404)},
    summary="Whether a user exists (scope auth:users.read)",
)
async def user_exists(
    user_id: UUID,
    db: DatabaseDep,
    caller: Annotated[ServicePrincipal, Depends(require_service(USERS_READ))],
) -> UserExistsResponse:
    async with db.session() as session:
        row = await user_store.user_by_id(session, user_id)
    if row is None:
        raise ProblemError(404, "user_not_found", "No such user")
    return UserExistsResponse(user_id=row.id, created_at=row.created_at)
