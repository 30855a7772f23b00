"""The tokens API: the user's connect flow and connection, and the internal hand-out.

No postponed annotations here: FastAPI must see the dependency built from the settings.
"""

import re
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from starlette.routing import Route

from backbeat.authn.claims import ServicePrincipal, UserPrincipal
from backbeat.authn.dependencies import (
    AUTH_PROBLEMS,
    bearer_token,
    current_user,
    principal_of,
    require_service,
    service_with,
)
from backbeat.events.connections import ConnectionStatus
from backbeat.runtime.problems import ProblemError, problem_responses
from backbeat.tokens.api.connect_cookie import ConnectCookie
from backbeat.tokens.api.deps import (
    ConnectFlowDep,
    DatabaseDep,
    DispenserDep,
    SettingsDep,
    dispenser,
)
from backbeat.tokens.api.models import ConnectionView, ConnectStarted, HandedOutToken
from backbeat.tokens.service.connect import ConnectFailed, browser_binding
from backbeat.tokens.service.connections import remove_connection
from backbeat.tokens.service.errors import NeedsReauth, NotConnected, TryLater
from backbeat.tokens.store.tables import credentials

User = Annotated[UserPrincipal, Depends(current_user)]
# Spotify user ids, Backbeat user UUIDs: short, printable, no path tricks.
UserIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def now() -> datetime:
    return datetime.now(UTC)


def user_router() -> APIRouter:
    router = APIRouter(prefix="/api/spotify", tags=["spotify"])

    @router.post("/connect", responses=AUTH_PROBLEMS)
    async def connect(
        response: Response, user: User, flow: ConnectFlowDep, settings: SettingsDep
    ) -> ConnectStarted:
        """Spotify's authorize URL for a new flow, and the cookie that binds the flow to this
        browser: the callback completes only in a browser that holds it."""
        started = await flow.start(str(user.user_id), now())
        ConnectCookie.for_settings(settings).give(response, started.browser_binding)
        response.headers["Cache-Control"] = "no-store"
        return ConnectStarted(authorize_url=started.authorize_url)

    @router.get("/callback", status_code=302, response_class=RedirectResponse)
    async def callback(
        request: Request,
        flow: ConnectFlowDep,
        settings: SettingsDep,
        tokens: DispenserDep,
        state: Annotated[str, Query(min_length=1, max_length=256)],
        code: Annotated[str | None, Query(max_length=2048)] = None,
        error: Annotated[str | None, Query(max_length=256)] = None,
    ) -> RedirectResponse:
        """Where Spotify sends the browser back; redirects on to the web UI with the outcome."""
        web_ui = settings.web_ui_url
        cookie = ConnectCookie.for_settings(settings)
        binding = browser_binding(state)
        held = cookie.read(request, binding)
        if error is not None or code is None:
            # The user declined on Spotify's page: the state is spent either way.
            await flow.abandon(state)
            outcome = {"spotify": "error", "reason": "access_denied" if error else "missing_code"}
        else:
            try:
                user_id = await flow.finish(code, state, now(), browser=held)
                tokens.forget(user_id)
                outcome = {"spotify": "connected"}
            except ConnectFailed as failed:
                outcome = {"spotify": "error", "reason": failed.code}
        redirect = RedirectResponse(f"{web_ui}?{urlencode(outcome)}", status_code=302)
        if held is not None:
            cookie.clear(redirect, binding)
        return redirect

    @router.get("/connection", responses=AUTH_PROBLEMS)
    async def connection(user: User, database: DatabaseDep) -> ConnectionView:
        async with database.session() as session:
            row = (
                await session.execute(
                    select(
                        credentials.c.status, credentials.c.scopes, credentials.c.status_since
                    ).where(credentials.c.user_id == str(user.user_id))
                )
            ).first()
        if row is None:
            return ConnectionView(status=ConnectionStatus.DISCONNECTED, scopes=[], since=None)
        return ConnectionView(
            status=ConnectionStatus(row.status), scopes=list(row.scopes), since=row.status_since
        )

    @router.delete("/connection", status_code=204, responses=AUTH_PROBLEMS)
    async def disconnect(
        user: User, database: DatabaseDep, settings: SettingsDep, tokens: DispenserDep
    ) -> Response:
        await remove_connection(
            database, str(user.user_id), now=now(), topic=settings.connections_topic
        )
        tokens.forget(str(user.user_id))
        return Response(status_code=204)

    return router


HANDOUT_PATH = "/internal/v1/users/{user_id}/spotify/access-token"
_USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


async def _hand_out(request: Request, user_id: str, caller: ServicePrincipal) -> Response:
    tokens = dispenser(request)
    try:
        token = await tokens.access_token(user_id, actor=f"svc:{caller.client_id}")
    except NotConnected as refused:
        raise ProblemError(404, refused.code, "The user has no Spotify connection") from None
    except NeedsReauth as refused:
        raise ProblemError(
            409, refused.code, "The user must reconnect Spotify", str(refused)
        ) from None
    except TryLater as refused:
        raise ProblemError(
            503,
            refused.code,
            "Spotify is unavailable; try again later",
            headers={"Retry-After": str(max(1, round(refused.retry_after_s)))},
        ) from None
    body = {"access_token": token.token, "expires_at": token.expires_at}
    return Response(orjson.dumps(body), media_type="application/json")


def handout_route(handout_scope: str) -> Route:
    """The hand-out served without FastAPI's parameter and dependency machinery, which costs
    several times the route's own work on the service's hottest path; it checks exactly what
    the documented route below declares (the same verifier, scope and id rules)."""

    async def serve(request: Request) -> Response:
        caller = service_with(await principal_of(request, bearer_token(request)), handout_scope)
        user_id = request.path_params["user_id"]
        if not _USER_ID.match(user_id):
            raise ProblemError(422, "validation_error", "The request is not valid", "user_id")
        return await _hand_out(request, user_id, caller)

    return Route(HANDOUT_PATH, serve, methods=["GET"])


def internal_router(handout_scope: str) -> APIRouter:
    """Documents the internal API; ``handout_route`` serves the same path ahead of it."""
    router = APIRouter(tags=["internal"])
    Service = Annotated[ServicePrincipal, Depends(require_service(handout_scope))]

    @router.get(
        HANDOUT_PATH,
        response_model=HandedOutToken,
        responses={**AUTH_PROBLEMS, **problem_responses(404, 409, 422, 503)},
    )
    async def access_token(request: Request, user_id: UserIdPath, caller: Service) -> Response:
        """The user's current Spotify access token and its expiry (never the refresh token)."""
        return await _hand_out(request, user_id, caller)

    return router
