"""Revoked sessions and over-long tokens are refused by the verifier, from its cache too; the
revocation list forgets entries once no token they cover can still be valid."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import pytest
from fastapi import Depends

from backbeat.authn import (
    RejectReason,
    Revocation,
    RevocationList,
    RevocationsUnavailable,
    ServicePrincipal,
    TokenRejected,
    TokenVerifier,
    UserPrincipal,
    current_user,
    install_verifier,
)
from backbeat.authn.revocation_feed import revocation_from_record, revocations_topic_spec
from backbeat.authn.testing import TokenForge
from backbeat.events.cloudevents import to_kafka
from backbeat.events.revocations import RevocationReason, SessionRevoked, session_revoked_event
from backbeat.runtime.http import create_service_app

ISSUER = "http://auth.test"
FORGE = TokenForge(issuer=ISSUER, user_audience="backbeat", service_audience="tokens")


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def current_list(**options: float) -> RevocationList:
    revocations = RevocationList(retain_s=options.get("retain_s", 960.0))
    revocations.mark_current()
    return revocations


def verifier(revocations: RevocationList | None = None, **options: object) -> TokenVerifier:
    return TokenVerifier(
        FORGE.key_source(),
        issuer=ISSUER,
        user_audience="backbeat",
        service_audience="tokens",
        revocations=revocations,
        **options,  # type: ignore[arg-type]
    )


# -- the list ----------------------------------------------------------------------------------


def test_a_revoked_session_is_revoked_and_the_user_s_other_sessions_are_not() -> None:
    clock = Clock()
    revocations = RevocationList(retain_s=960, clock=clock)
    user, ended, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    revocations.add(Revocation(user, ended, revoked_at=clock.now))

    assert revocations.is_revoked(user, ended)
    assert not revocations.is_revoked(user, other)
    assert not revocations.is_revoked(uuid.uuid4(), uuid.uuid4())


def test_revoking_every_session_of_a_user_covers_sessions_it_never_named() -> None:
    clock = Clock()
    revocations = RevocationList(retain_s=960, clock=clock)
    user = uuid.uuid4()

    revocations.add(Revocation(user, None, revoked_at=clock.now))

    assert revocations.is_revoked(user, uuid.uuid4())
    assert not revocations.is_revoked(uuid.uuid4(), uuid.uuid4())


def test_an_entry_is_forgotten_once_no_token_it_covers_can_be_valid() -> None:
    clock = Clock()
    revocations = RevocationList(retain_s=960, clock=clock)
    user, session = uuid.uuid4(), uuid.uuid4()
    revocations.add(Revocation(user, session, revoked_at=clock.now))
    revocations.add(Revocation(uuid.uuid4(), None, revoked_at=clock.now + 100))

    clock.now += 959
    assert revocations.is_revoked(user, session)
    assert len(revocations) == 2
    clock.now += 1
    assert not revocations.is_revoked(user, session)
    assert len(revocations) == 1
    clock.now += 100
    assert len(revocations) == 0


def test_a_revocation_older_than_the_longest_token_is_not_kept() -> None:
    clock = Clock()
    revocations = RevocationList(retain_s=960, clock=clock)
    user, session = uuid.uuid4(), uuid.uuid4()

    kept = revocations.add(Revocation(user, session, revoked_at=clock.now - 961))

    assert kept is False
    assert not revocations.is_revoked(user, session)
    assert len(revocations) == 0


def test_a_later_revocation_of_the_same_session_extends_how_long_it_is_kept() -> None:
    clock = Clock()
    revocations = RevocationList(retain_s=960, clock=clock)
    user, session = uuid.uuid4(), uuid.uuid4()
    revocations.add(Revocation(user, session, revoked_at=clock.now))
    revocations.add(Revocation(user, session, revoked_at=clock.now + 500))

    clock.now += 961

    assert revocations.is_revoked(user, session)


def test_listeners_hear_each_revocation_and_one_failing_listener_does_not_stop_the_others() -> None:
    revocations = current_list()
    heard: list[Revocation] = []

    def broken(_: Revocation) -> None:
        raise RuntimeError("boom")

    revocations.listen(broken)
    revocations.listen(heard.append)
    revocation = Revocation(uuid.uuid4(), uuid.uuid4(), revoked_at=time.time())

    revocations.add(revocation)

    assert heard == [revocation]
    assert revocations.is_revoked(revocation.user_id, revocation.session_id)  # type: ignore[arg-type]


def test_a_revocation_event_reads_back_as_the_revocation_it_describes() -> None:
    user, session = uuid.uuid4(), uuid.uuid4()
    revoked_at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    event = session_revoked_event(
        SessionRevoked(
            user_id=str(user),
            session_id=str(session),
            reason=RevocationReason.SIGN_OUT,
            revoked_at=revoked_at,
            expires_at=revoked_at + timedelta(minutes=10),
        )
    )
    key, value, headers = to_kafka(event)

    class Record:
        pass

    record = Record()
    record.key, record.value, record.headers = key, value, headers  # type: ignore[attr-defined]

    assert revocation_from_record(record) == Revocation(  # type: ignore[arg-type]
        user, session, revoked_at=revoked_at.timestamp()
    )


def test_the_topic_keeps_records_a_little_longer_than_the_longest_token() -> None:
    spec = revocations_topic_spec("auth.revocations", max_token_lifetime_s=900, partitions=3)

    retention_s = int(spec.config["retention.ms"]) / 1000

    assert 900 < retention_s <= 900 + 600
    assert spec.config["cleanup.policy"] == "delete"
    assert int(spec.config["segment.ms"]) <= int(spec.config["retention.ms"])


# -- the verifier ------------------------------------------------------------------------------


async def test_a_token_of_a_revoked_session_is_refused_even_after_it_was_cached() -> None:
    revocations = current_list()
    user, session = uuid.uuid4(), uuid.uuid4()
    token = FORGE.user_token(sub=str(user), sid=str(session))
    check = verifier(revocations)
    assert isinstance(await check.verify(token), UserPrincipal)  # now in the cache

    revocations.add(Revocation(user, session, revoked_at=time.time()))

    with pytest.raises(TokenRejected) as refused:
        await check.verify(token)
    assert refused.value.reason is RejectReason.SESSION_REVOKED
    # A token of another session of the same user still works.
    other = FORGE.user_token(sub=str(user), sid=str(uuid.uuid4()))
    assert isinstance(await check.verify(other), UserPrincipal)


async def test_every_token_of_a_deleted_user_is_refused() -> None:
    revocations = current_list()
    user = uuid.uuid4()
    revocations.add(Revocation(user, None, revoked_at=time.time()))

    for _ in range(3):
        with pytest.raises(TokenRejected) as refused:
            await verifier(revocations).verify(
                FORGE.user_token(sub=str(user), sid=str(uuid.uuid4()))
            )
        assert refused.value.reason is RejectReason.SESSION_REVOKED


async def test_until_the_revocations_are_read_user_tokens_are_not_decided() -> None:
    revocations = RevocationList(retain_s=960)  # not current yet
    check = verifier(revocations)

    with pytest.raises(RevocationsUnavailable):
        await check.verify(FORGE.user_token())
    # Service tokens cannot be revoked: they are not held up.
    assert isinstance(
        await check.verify(FORGE.service_token("watcher", "tokens:read")), ServicePrincipal
    )
    revocations.mark_current()
    assert isinstance(await check.verify(FORGE.user_token()), UserPrincipal)


@pytest.mark.parametrize("lifetime_s", [901, 3600, 30 * 24 * 3600])
async def test_a_user_token_living_longer_than_the_maximum_is_refused(lifetime_s: int) -> None:
    now = int(time.time())
    token = FORGE.user_token(iat=now, nbf=now, exp=now + lifetime_s)

    with pytest.raises(TokenRejected) as refused:
        await verifier(max_lifetime_s=900).verify(token)

    assert refused.value.reason is RejectReason.TOKEN_LIFETIME_TOO_LONG


async def test_a_long_lived_token_is_refused_even_near_its_expiry() -> None:
    now = int(time.time())
    # Issued a day ago, valid for a day and a minute: one minute left, but a day-long token.
    token = FORGE.user_token(iat=now - 86_400, nbf=now - 86_400, exp=now + 60)

    with pytest.raises(TokenRejected) as refused:
        await verifier().verify(token)

    assert refused.value.reason is RejectReason.TOKEN_LIFETIME_TOO_LONG


async def test_a_token_at_exactly_the_maximum_lifetime_is_accepted() -> None:
    now = int(time.time())
    token = FORGE.user_token(iat=now, nbf=now, exp=now + 900)

    assert isinstance(await verifier(max_lifetime_s=900).verify(token), UserPrincipal)


async def test_service_tokens_have_their_own_maximum_lifetime() -> None:
    now = int(time.time())
    hour = FORGE.service_token("watcher", "tokens:read", iat=now, nbf=now, exp=now + 3600)
    day = FORGE.service_token("watcher", "tokens:read", iat=now, nbf=now, exp=now + 86_400)
    check = verifier(max_lifetime_s=900, max_service_lifetime_s=3600)

    assert isinstance(await check.verify(hour), ServicePrincipal)
    with pytest.raises(TokenRejected) as refused:
        await check.verify(day)
    assert refused.value.reason is RejectReason.TOKEN_LIFETIME_TOO_LONG


# -- what a client sees ------------------------------------------------------------------------


async def test_a_client_sees_401_session_revoked_and_503_while_revocations_are_unread() -> None:
    revocations = RevocationList(retain_s=960)
    app = create_service_app(service="demo", title="demo")
    install_verifier(app, verifier(revocations))

    @app.get("/mine")
    async def mine(user: Annotated[UserPrincipal, Depends(current_user)]) -> dict[str, str]:
        return {"user_id": str(user.user_id)}

    user, session = uuid.uuid4(), uuid.uuid4()
    headers = {"Authorization": f"Bearer {FORGE.user_token(sub=str(user), sid=str(session))}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
        unread = await http.get("/mine", headers=headers)
        revocations.mark_current()
        accepted = await http.get("/mine", headers=headers)
        revocations.add(Revocation(user, session, revoked_at=time.time()))
        revoked = await http.get("/mine", headers=headers)
        now = int(time.time())
        long_lived = await http.get(
            "/mine",
            headers={"Authorization": f"Bearer {FORGE.user_token(iat=now, exp=now + 7200)}"},
        )

    assert unread.status_code == 503
    assert unread.json()["code"] == "revocations_unavailable"
    assert accepted.status_code == 200
    assert revoked.status_code == 401
    assert revoked.json()["code"] == "session_revoked"
    assert str(session) not in revoked.text
    assert long_lived.status_code == 401
    assert long_lived.json()["code"] == "token_lifetime_too_long"
