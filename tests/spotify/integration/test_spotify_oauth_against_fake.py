"""The connect flow end to end: /authorize on the fake, code exchange and refresh by the client."""

from __future__ import annotations

import httpx
import pytest

from backbeat.spotify import (
    AccessTokenInvalid,
    AccountsError,
    InvalidClient,
    InvalidGrant,
    TransientSpotifyError,
)
from backbeat.spotify.accounts import SpotifyAccounts
from backbeat.spotify.authorization import PkcePair, authorize_url

from .conftest import FAKE_URL, REDIRECT_URI, FakeSpotifyHarness, HarnessFactory

SIX_MONTHS_MS = 183 * 24 * 3_600_000


async def test_pkce_public_client_exchanges_a_code_for_tokens(harness: FakeSpotifyHarness) -> None:
    user_id = await harness.create_user()
    grant = await harness.connect(user_id, public=True)
    assert grant.token_type == "Bearer"
    assert grant.expires_in == 3600
    assert grant.refresh_token is not None
    assert "user-read-playback-state" in grant.scopes
    profile = await harness.spotify().current_user(grant.access_token.get_secret_value())
    assert profile.id == user_id


async def test_confidential_client_exchanges_a_code_with_basic_auth(
    harness: FakeSpotifyHarness,
) -> None:
    user_id = await harness.create_user()
    pkce = PkcePair.generate()
    code = await harness.authorization_code(user_id, pkce=pkce)
    grant = await harness.accounts(public=False).exchange_code(code, code_verifier=pkce.verifier)
    assert grant.refresh_token is not None


async def test_public_client_without_a_code_challenge_is_refused(
    harness: FakeSpotifyHarness,
) -> None:
    user_id = await harness.create_user()
    settings = harness.settings()
    url = authorize_url(settings, state="s", code_challenge="x", scopes=["user-read-private"])
    # Build a request without PKCE by dropping the two PKCE parameters.
    params = {k: v for k, v in httpx.URL(url).params.items() if not k.startswith("code_challenge")}
    response = await harness.http.get(
        f"{FAKE_URL}/authorize", params={**params, "fake_user": user_id}
    )
    code = httpx.URL(response.headers["location"]).params["code"]
    with pytest.raises(InvalidClient):
        await harness.accounts(public=True).exchange_code(code)


async def test_a_code_works_only_once(harness: FakeSpotifyHarness) -> None:
    user_id = await harness.create_user()
    pkce = PkcePair.generate()
    code = await harness.authorization_code(user_id, pkce=pkce)
    accounts = harness.accounts()
    await accounts.exchange_code(code, code_verifier=pkce.verifier)
    with pytest.raises(InvalidGrant) as refused:
        await accounts.exchange_code(code, code_verifier=pkce.verifier)
    assert refused.value.error == "invalid_grant"
    assert refused.value.status == 400


async def test_a_wrong_code_verifier_is_an_invalid_grant(harness: FakeSpotifyHarness) -> None:
    user_id = await harness.create_user()
    code = await harness.authorization_code(user_id)
    with pytest.raises(InvalidGrant) as refused:
        await harness.accounts(public=True).exchange_code(
            code, code_verifier=PkcePair.generate().verifier
        )
    assert "code_verifier" in refused.value.description


async def test_the_redirect_uri_must_match_exactly_at_exchange(harness: FakeSpotifyHarness) -> None:
    user_id = await harness.create_user()
    pkce = PkcePair.generate()
    code = await harness.authorization_code(user_id, pkce=pkce)
    other = harness.settings(redirect_uri=REDIRECT_URI + "/")
    with pytest.raises(InvalidGrant) as refused:
        await SpotifyAccounts(other, http=harness.http).exchange_code(
            code, code_verifier=pkce.verifier
        )
    assert refused.value.description == "Invalid redirect URI"


async def test_a_wrong_client_secret_is_an_invalid_client(harness: FakeSpotifyHarness) -> None:
    user_id = await harness.create_user()
    pkce = PkcePair.generate()
    code = await harness.authorization_code(user_id, pkce=pkce)
    settings = harness.settings(client_secret="0" * 32)
    with pytest.raises(InvalidClient) as refused:
        await SpotifyAccounts(settings, http=harness.http).exchange_code(
            code, code_verifier=pkce.verifier
        )
    assert refused.value.status == 401
    assert "0" * 32 not in str(refused.value) + repr(refused.value)


async def test_refresh_without_rotation_keeps_the_old_refresh_token(
    harness: FakeSpotifyHarness,
) -> None:
    user_id = await harness.create_user()
    grant = await harness.connect(user_id)
    assert grant.refresh_token is not None
    refresh_token = grant.refresh_token.get_secret_value()
    accounts = harness.accounts()

    refreshed = await accounts.refresh(refresh_token)
    again = await accounts.refresh(refresh_token)

    assert refreshed.refresh_token is None
    assert again.refresh_token is None
    assert refreshed.access_token != grant.access_token
    profile = await harness.spotify().current_user(again.access_token.get_secret_value())
    assert profile.id == user_id


async def test_refresh_with_rotation_returns_a_new_refresh_token_and_retires_the_old(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(rotate_refresh_tokens=True)
    user_id = await harness.create_user()
    grant = await harness.connect(user_id, public=True)
    assert grant.refresh_token is not None
    accounts = harness.accounts(public=True)

    rotated = await accounts.refresh(grant.refresh_token.get_secret_value())

    assert rotated.refresh_token is not None
    assert rotated.refresh_token != grant.refresh_token
    with pytest.raises(InvalidGrant):
        await accounts.refresh(grant.refresh_token.get_secret_value())
    newer = await accounts.refresh(rotated.refresh_token.get_secret_value())
    assert newer.access_token.get_secret_value()


async def test_revoked_access_makes_refresh_an_invalid_grant(harness: FakeSpotifyHarness) -> None:
    user_id = await harness.create_user()
    grant = await harness.connect(user_id)
    assert grant.refresh_token is not None
    response = await harness.control("POST", f"/users/{user_id}/revoke")
    assert response.json() == {"revoked_grants": 1}

    with pytest.raises(InvalidGrant) as refused:
        await harness.accounts().refresh(grant.refresh_token.get_secret_value())
    assert refused.value.description == "Refresh token revoked"
    with pytest.raises(AccessTokenInvalid):
        await harness.spotify().current_user(grant.access_token.get_secret_value())


async def test_refresh_tokens_die_six_months_after_authorization(
    harness: FakeSpotifyHarness,
) -> None:
    user_id = await harness.create_user()
    grant = await harness.connect(user_id)
    assert grant.refresh_token is not None
    accounts = harness.accounts()
    await harness.advance(SIX_MONTHS_MS - 10 * 24 * 3_600_000)
    await accounts.refresh(grant.refresh_token.get_secret_value())
    await harness.advance(10 * 24 * 3_600_000)
    with pytest.raises(InvalidGrant):
        await accounts.refresh(grant.refresh_token.get_secret_value())


async def test_token_endpoint_down_is_transient(harness: FakeSpotifyHarness) -> None:
    user_id = await harness.create_user()
    grant = await harness.connect(user_id)
    assert grant.refresh_token is not None
    await harness.control(
        "POST", "/faults", json={"endpoint": "token", "kind": "server_error", "count": 1}
    )
    with pytest.raises(TransientSpotifyError) as failed:
        await harness.accounts().refresh(grant.refresh_token.get_secret_value())
    assert failed.value.status == 503
    refreshed = await harness.accounts().refresh(grant.refresh_token.get_secret_value())
    assert refreshed.access_token.get_secret_value()


async def test_unknown_grant_type_is_a_permanent_accounts_error(
    harness: FakeSpotifyHarness,
) -> None:
    response = await harness.http.post(
        f"{FAKE_URL}/api/token",
        data={"grant_type": "password", "client_id": harness.client_id},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    assert issubclass(InvalidGrant, AccountsError)


async def test_authorize_refuses_an_unregistered_redirect_uri_without_redirecting(
    harness: FakeSpotifyHarness,
) -> None:
    user_id = await harness.create_user()
    settings = harness.settings(redirect_uri="http://evil.example/cb")
    url = authorize_url(
        settings,
        state="s",
        code_challenge=PkcePair.generate().challenge,
        scopes=["user-read-private"],
        extra_params={"fake_user": user_id},
    )
    response = await harness.http.get(url)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "Invalid redirect URI" in response.text


async def test_authorize_sends_an_unknown_scope_back_as_invalid_scope(
    harness: FakeSpotifyHarness,
) -> None:
    url = authorize_url(
        harness.settings(),
        state="s-1",
        code_challenge=PkcePair.generate().challenge,
        scopes=["user-read-mind"],
    )
    response = await harness.http.get(url)
    assert response.status_code == 302
    location = httpx.URL(response.headers["location"])
    assert location.params["error"] == "invalid_scope"
    assert location.params["state"] == "s-1"


async def test_consent_page_lets_a_person_pick_the_user_and_agree(
    harness: FakeSpotifyHarness,
) -> None:
    user_id = await harness.create_user(display_name="Ada Example")
    pkce = PkcePair.generate()
    url = authorize_url(
        harness.settings(), state="s-2", code_challenge=pkce.challenge, scopes=["user-read-private"]
    )
    page = await harness.http.get(url)
    assert page.status_code == 200
    assert "Ada Example" in page.text
    form = dict(httpx.URL(url).params)
    response = await harness.http.post(
        f"{FAKE_URL}/authorize", data={**form, "fake_user": user_id, "decision": "agree"}
    )
    location = httpx.URL(response.headers["location"])
    assert location.params["state"] == "s-2"
    grant = await harness.accounts().exchange_code(
        location.params["code"], code_verifier=pkce.verifier
    )
    assert grant.scopes == {"user-read-private"}


async def test_consent_page_cancel_returns_access_denied(harness: FakeSpotifyHarness) -> None:
    await harness.create_user()
    url = authorize_url(
        harness.settings(),
        state="s-3",
        code_challenge=PkcePair.generate().challenge,
        scopes=["user-read-private"],
    )
    form = dict(httpx.URL(url).params)
    response = await harness.http.post(
        f"{FAKE_URL}/authorize", data={**form, "fake_user": "user0001", "decision": "cancel"}
    )
    location = httpx.URL(response.headers["location"])
    assert location.params["error"] == "access_denied"
    assert location.params["state"] == "s-3"
