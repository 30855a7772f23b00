"""Fuzzing every public route through the gateway, with and without a valid token: no answer
is a 5xx, and after each hostile request another user's request to the same service, on the
same kept-alive connection, is served.

Two runs: hostile requests built from strategies for the inputs that once made services fail
(header bytes, times, cursors, Unicode, NUL), and a stateful run in which accounts are made,
refreshed, signed out and deleted between requests that Schemathesis builds from the public
API document, inside and outside it. Both are bounded to keep the suite's time modest.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    rule,
    run_state_machine_as_test,
)
from schemathesis.generation import GenerationMode

from backbeat.gateway.domain.routes import PUBLIC_OPERATIONS, PublicOperation, Upstream
from backbeat.runtime.testing import ServiceProcess
from tests.gateway.stack import PASSWORD, Account, new_email, sign_up

pytestmark = pytest.mark.integration

# A request that only reads, to each service, for the user who comes after the hostile one.
FOLLOW_UP = {
    Upstream.AUTH: "/api/auth/me",
    Upstream.TOKENS: "/api/spotify/connection",
    Upstream.PLAYBACK: "/api/playback/stats",
}

# What a signed-in fuzzed request must not do to the account the run shares.
DESTRUCTIVE = {("DELETE", "/api/auth/me"), ("POST", "/api/auth/logout")}

FUZZ_SETTINGS = settings(
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)

# --- strategies ---------------------------------------------------------------------------

# Strings that once broke something, or might: NUL, characters that grow in lower case,
# digits of other scripts, bidi and BOM marks, ligatures, a long run.
NASTY = [
    "\x00",
    "a\x00b",
    "İ" * 200,
    "١٢٣",
    "¹²³",
    "\uff11\uff12",
    "\u202eevil",
    "\ufeff",
    "ß",
    "ﬃ",
    "0" * 400,
    "%00",
    "../..",
    "' OR 1=1 --",
]
unicode_text = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
    st.sampled_from(NASTY),
)

# Every byte a header value may carry on the wire: tab, visible ASCII, obs-text 0x80-0xff.
_FIELD_BYTES = [0x09, *range(0x20, 0x7F), *range(0x80, 0x100)]
header_values = (
    st.lists(st.sampled_from(_FIELD_BYTES), max_size=40).map(bytes).map(lambda b: b.strip(b" \t"))
)
HEADER_NAMES = [
    "user-agent",
    "accept",
    "accept-language",
    "accept-encoding",
    "referer",
    "cookie",
    "origin",
    "x-request-id",
    "traceparent",
    "last-event-id",
    "if-none-match",
    "x-forwarded-for",
    "forwarded",
    "x-client-note",
]
hostile_headers = st.lists(
    st.tuples(st.sampled_from(HEADER_NAMES).map(str.encode), header_values), max_size=4
)

offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
times = st.one_of(
    st.datetimes(min_value=datetime.min, max_value=datetime.max, timezones=offsets).map(
        datetime.isoformat
    ),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z",
            "+275760-09-13T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-01-01T00:00:00",
            "infinity",
        ]
    ),
    unicode_text,
)
numbers = st.one_of(
    st.integers(-(2**70), 2**70).map(str), st.sampled_from(["١٢٣", "1e3", "0x10", "", " 5"])
)


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


cursors = st.one_of(
    st.builds(lambda time, number: _cursor(f"{time}|{number}"), times, numbers), unicode_text
)
query_params = st.fixed_dictionaries(
    {},
    optional={
        "from": times,
        "to": times,
        "cursor": cursors,
        "limit": numbers,
        "top": numbers,
        "state": unicode_text,
        "code": unicode_text,
        "error": unicode_text,
    },
)
emails = st.one_of(
    unicode_text,
    st.builds(lambda local, domain: f"{local}@{domain}.com", unicode_text, unicode_text),
    st.just("İ" * 60 + "@" + "İ" * 250 + ".com"),
)
json_bodies = st.fixed_dictionaries(
    {},
    optional={
        "email": emails,
        "password": unicode_text,
        "refresh_token": unicode_text,
        "current_password": unicode_text,
        "new_password": unicode_text,
    },
)
bodies = st.one_of(
    json_bodies.map(lambda body: ("json", body)),
    st.binary(max_size=200).map(lambda raw: ("raw", raw)),
)
# A caller without a valid token brings none, or a hostile one.
hostile_authorization = st.one_of(
    st.none(),
    header_values.map(lambda value: (b"Bearer " + value).strip()),
    st.sampled_from([b"Bearer", b"Basic \xff\xfe", b"bearer  \x80"]),
)


# --- the hostile-request run ----------------------------------------------------------------


@pytest.fixture(scope="module")
def bystander(fuzzed_gateway: ServiceProcess) -> Account:
    return sign_up(fuzzed_gateway.url)


@pytest.fixture(scope="module")
def fuzzer(fuzzed_gateway: ServiceProcess) -> Account:
    return sign_up(fuzzed_gateway.url)


@pytest.fixture(scope="module")
def http(fuzzed_gateway: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fuzzed_gateway.url, timeout=30) as client:
        yield client


def send_hostile(
    http: httpx.Client,
    operation: PublicOperation,
    headers: list[tuple[bytes, bytes]],
    query: dict[str, str],
    body: tuple[str, Any],
) -> int:
    kind, content = body
    options: dict[str, Any] = {"headers": headers, "params": query}
    if operation.method in ("POST", "PUT", "PATCH"):
        if kind == "json":
            options["json"] = content
        else:
            options["content"] = content
            headers.append((b"content-type", b"application/json"))
    if operation.path == "/api/playback/stream":
        # The status is all there is to check; a stream that opened is closed at once.
        with http.stream(operation.method, operation.path, **options) as response:
            return response.status_code
    return http.request(operation.method, operation.path, **options).status_code


def fuzz_operation(
    operation: PublicOperation,
    *,
    signed_in: bool,
    gateway_url: str,
    http: httpx.Client,
    fuzzer: Account,
    bystander: Account,
) -> None:
    @given(
        authorization=hostile_authorization,
        headers=hostile_headers,
        query=query_params,
        body=bodies,
    )
    @settings(FUZZ_SETTINGS, max_examples=20)
    def hostile_request(
        authorization: bytes | None,
        headers: list[tuple[bytes, bytes]],
        query: dict[str, str],
        body: tuple[str, Any],
    ) -> None:
        headers = list(headers)
        if signed_in:
            destructive = (operation.method, operation.path) in DESTRUCTIVE
            account = sign_up(gateway_url, http=http) if destructive else fuzzer
            headers.append((b"authorization", f"Bearer {account.access_token}".encode()))
        elif authorization is not None:
            headers.append((b"authorization", authorization))

        status = send_hostile(http, operation, headers, query, body)

        assert status < 500, (operation, status)
        after = http.get(FOLLOW_UP[operation.upstream], headers=bystander.headers)
        assert after.status_code == 200, (operation, after.status_code, after.text)

    hostile_request()


@pytest.mark.parametrize("signed_in", [True, False], ids=["with a token", "without"])
def test_no_hostile_request_is_a_server_error_or_fails_the_next_one(
    fuzzed_gateway: ServiceProcess,
    http: httpx.Client,
    fuzzer: Account,
    bystander: Account,
    signed_in: bool,
) -> None:
    for operation in PUBLIC_OPERATIONS:
        fuzz_operation(
            operation,
            signed_in=signed_in,
            gateway_url=fuzzed_gateway.url,
            http=http,
            fuzzer=fuzzer,
            bystander=bystander,
        )


# --- the stateful run -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def public_api(fuzzed_gateway: ServiceProcess) -> schemathesis.BaseSchema:
    document = schemathesis.openapi.from_url(f"{fuzzed_gateway.url}/api/openapi.json")
    # A live stream never ends: the hostile-request run covers it.
    return document.exclude(path="/api/playback/stream")


def test_a_stateful_run_over_the_public_api_never_fails_a_request(
    public_api: schemathesis.BaseSchema, fuzzed_gateway: ServiceProcess, bystander: Account
) -> None:
    operations = {
        (op.method.upper(), op.path): op
        for op in (result.ok() for result in public_api.get_all_operations())
    }
    assert {("POST", "/api/auth/signup"), ("GET", "/api/playback/history")} <= set(operations)
    upstreams = {(op.method, op.path): op.upstream for op in PUBLIC_OPERATIONS}
    base_url = fuzzed_gateway.url
    session = requests.Session()
    # Requests built by Schemathesis, by operation: the run must not pass vacuously.
    called: dict[tuple[str, str], int] = {}

    def follow_up(key: tuple[str, str]) -> None:
        upstream = upstreams.get(key, Upstream.AUTH)
        after = session.get(f"{base_url}{FOLLOW_UP[upstream]}", headers=bystander.headers)
        assert after.status_code == 200, (key, after.status_code, after.text)

    class PublicApiUse(RuleBasedStateMachine):
        """Accounts come and go; between their steps, Schemathesis builds requests from the
        document (valid ones and ones that break it) with one of them, or none."""

        accounts = Bundle("accounts")

        @rule(target=accounts, email=st.one_of(st.just(None), emails))
        def sign_up(self, email: str | None) -> Account | None:
            email = email or new_email()
            created = session.post(
                f"{base_url}/api/auth/signup", json={"email": email, "password": PASSWORD}
            )
            assert created.status_code < 500, created.text
            follow_up(("POST", "/api/auth/signup"))
            if created.status_code != 201:
                return None
            login = session.post(
                f"{base_url}/api/auth/login", json={"email": email, "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
            tokens = login.json()
            return Account(
                email, created.json()["user_id"], tokens["access_token"], tokens["refresh_token"]
            )

        @rule(
            account=st.one_of(st.none(), accounts),
            key=st.sampled_from(sorted(operations)),
            mode=st.sampled_from([GenerationMode.POSITIVE, GenerationMode.NEGATIVE]),
            data=st.data(),
        )
        def call(
            self,
            account: Account | None,
            key: tuple[str, str],
            mode: GenerationMode,
            data: st.DataObject,
        ) -> None:
            if account is not None and key in DESTRUCTIVE:
                return  # done by the rules below, which take the account out of play
            case = data.draw(operations[key].as_strategy(generation_mode=mode))
            headers = {"Authorization": f"Bearer {account.access_token}"} if account else None
            response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
            assert response.status_code < 500, (key, response.status_code, response.text)
            called[key] = called.get(key, 0) + 1
            follow_up(key)

        @rule(account=accounts)
        def refresh(self, account: Account | None) -> None:
            if account is None:
                return
            response = session.post(
                f"{base_url}/api/auth/refresh", json={"refresh_token": account.refresh_token}
            )
            assert response.status_code in (200, 401), response.text
            if response.status_code == 200:
                account.access_token = response.json()["access_token"]
                account.refresh_token = response.json()["refresh_token"]
            follow_up(("POST", "/api/auth/refresh"))

        @rule(account=consumes(accounts), method=st.sampled_from(["POST", "DELETE"]))
        def leave(self, account: Account | None, method: str) -> None:
            if account is None:
                return
            # Signing out, or deleting the account: the token is of no use to it afterwards.
            path = "/api/auth/logout" if method == "POST" else "/api/auth/me"
            response = session.request(method, f"{base_url}{path}", headers=account.headers)
            assert response.status_code == 204, response.text
            follow_up((method, path))

    try:
        run_state_machine_as_test(
            PublicApiUse,
            settings=settings(FUZZ_SETTINGS, max_examples=20, stateful_step_count=15),
        )
    finally:
        session.close()
    assert sum(called.values()) >= 50
    assert len(called) >= len(operations) - len(DESTRUCTIVE)
