"""Spotify accounts service routes: the consent page at /authorize and the token endpoint."""

from __future__ import annotations

import base64
import binascii
import html
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from backbeat.spotify_fake.api.responses import JsonResponse, oauth_error
from backbeat.spotify_fake.domain.accounts import (
    AuthorizationRequest,
    AuthorizeError,
    ClientAuthentication,
    OAuthError,
)
from backbeat.spotify_fake.fake import FakeSpotify

router = APIRouter()

_AUTHORIZE_PARAMS = (
    "client_id",
    "response_type",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge_method",
    "code_challenge",
    "show_dialog",
)


def _fake(request: Request) -> FakeSpotify:
    fake: FakeSpotify = request.app.state.fake
    return fake


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return urlunsplit(parts._replace(query=query))


def _error_page(status: int, error: AuthorizeError | str) -> HTMLResponse:
    text = f"{error.error}: {error.description}" if isinstance(error, AuthorizeError) else error
    return HTMLResponse(
        f"<!doctype html><title>Error</title><h1>Oops! Something went wrong</h1>"
        f"<p>{html.escape(text)}</p>",
        status_code=status,
    )


def _check(fake: FakeSpotify, params: dict[str, str]) -> AuthorizationRequest:
    return fake.accounts.check_authorization_request(
        client_id=params.get("client_id"),
        redirect_uri=params.get("redirect_uri"),
        response_type=params.get("response_type"),
        scope=params.get("scope"),
        state=params.get("state"),
        code_challenge=params.get("code_challenge"),
        code_challenge_method=params.get("code_challenge_method"),
    )


def _redirect_back(redirect_uri: str, params: dict[str, str], state: str | None) -> Response:
    if state is not None:
        params = {**params, "state": state}
    return RedirectResponse(_with_query(redirect_uri, params), status_code=302)


def _grant(fake: FakeSpotify, auth_request: AuthorizationRequest, user_id: str) -> Response:
    code = fake.accounts.grant_consent(auth_request, user_id, fake.now_ms())
    return _redirect_back(auth_request.redirect_uri, {"code": code}, auth_request.state)


def _consent_page(
    fake: FakeSpotify, params: dict[str, str], auth_request: AuthorizationRequest
) -> HTMLResponse:
    app = fake.accounts.apps[auth_request.client_id]
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
        for name, value in params.items()
        if name in _AUTHORIZE_PARAMS
    )
    options = "".join(
        f'<option value="{html.escape(user.id)}">{html.escape(user.display_name)}'
        f" ({html.escape(user.id)}, {user.product})</option>"
        for user in fake.users.values()
    )
    scopes = "".join(f"<li>{html.escape(scope)}</li>" for scope in sorted(auth_request.scopes))
    return HTMLResponse(
        "<!doctype html><html><head><title>Spotify (fake): authorize</title></head><body>"
        f"<h1>{html.escape(app.name)} wants to connect to your Spotify account</h1>"
        f"<ul>{scopes}</ul>"
        '<form method="post" action="/authorize">'
        f'{hidden}<label>Log in as <select name="fake_user">{options}</select></label>'
        '<button name="decision" value="agree">Agree</button>'
        '<button name="decision" value="cancel">Cancel</button>'
        "</form></body></html>"
    )


def _authorize(fake: FakeSpotify, params: dict[str, str], decision: str | None) -> Response:
    try:
        auth_request = _check(fake, params)
    except AuthorizeError as refused:
        if not refused.redirectable:
            # Never redirect to a URI the app has not registered.
            return _error_page(400, refused)
        return _redirect_back(
            params["redirect_uri"],
            {"error": refused.error, "error_description": refused.description},
            params.get("state"),
        )
    if decision == "cancel":
        return _redirect_back(
            auth_request.redirect_uri, {"error": "access_denied"}, auth_request.state
        )
    user_id = params.get("fake_user")
    if not user_id:
        return _consent_page(fake, params, auth_request)
    if user_id not in fake.users:
        return _error_page(400, f"Unknown fake_user {user_id}")
    return _grant(fake, auth_request, user_id)


@router.get("/authorize")
async def authorize(request: Request) -> Response:
    params = dict(request.query_params)
    return _authorize(_fake(request), params, None)


@router.post("/authorize")
async def authorize_consent(request: Request) -> Response:
    form = await _form(request)
    decision = form.pop("decision", "agree")
    return _authorize(_fake(request), form, decision)


async def _form(request: Request) -> dict[str, str]:
    # Parsed by hand: form bodies here are always urlencoded, and this avoids a multipart parser.
    raw = (await request.body()).decode("utf-8", errors="replace")
    return {key: values[0] for key, values in parse_qs(raw, keep_blank_values=True).items()}


def _client_authentication(request: Request, form: dict[str, str]) -> ClientAuthentication:
    header = request.headers.get("authorization")
    if header:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            raise OAuthError("invalid_client", "Invalid client", status=401)
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", "Invalid client", status=401) from None
        client_id, separator, client_secret = decoded.partition(":")
        if not separator:
            raise OAuthError("invalid_client", "Invalid client", status=401)
        # RFC 6749 section 2.3.1: both parts are form-encoded before base64.
        client_id, client_secret = unquote_plus(client_id), unquote_plus(client_secret)
        if form.get("client_id") not in (None, client_id):
            raise OAuthError("invalid_request", "client_id does not match the authorization")
        return ClientAuthentication(client_id=client_id, client_secret=client_secret)
    body_client_id = form.get("client_id")
    if not body_client_id:
        raise OAuthError("invalid_client", "Invalid client", status=401)
    return ClientAuthentication(client_id=body_client_id, client_secret=form.get("client_secret"))


@router.post("/api/token")
async def token(request: Request) -> Response:
    fake = _fake(request)
    form = await _form(request)
    try:
        auth = _client_authentication(request, form)
        fake.counts.token_calls_by_client[auth.client_id] += 1
        grant_type = form.get("grant_type")
        now = fake.now_ms()
        if grant_type == "authorization_code":
            issued = fake.accounts.redeem_code(
                auth,
                code=form.get("code"),
                redirect_uri=form.get("redirect_uri"),
                code_verifier=form.get("code_verifier"),
                now_ms=now,
            )
        elif grant_type == "refresh_token":
            issued = fake.accounts.refresh(
                auth, refresh_token=form.get("refresh_token"), now_ms=now
            )
        elif not grant_type:
            raise OAuthError("unsupported_grant_type", "grant_type parameter is missing")
        else:
            raise OAuthError("unsupported_grant_type", f"grant_type {grant_type} is not supported")
    except OAuthError as refused:
        headers = {"WWW-Authenticate": "Basic"} if refused.status == 401 else None
        return oauth_error(refused.status, refused.error, refused.description, headers)
    return JsonResponse(issued.as_json(), headers={"Cache-Control": "no-store"})
