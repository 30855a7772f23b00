"""Hostile input through the gateway to the real services: every answer is a 4xx problem or a
success, never a 5xx, and the request after it, someone else's, is served as usual.

Each case here once made a service fail: times at the calendar's edge, forged history
cursors, bytes 0x80-0xff in headers, digits of other scripts in ``Last-Event-ID``, an email
that grows in lower case, NUL bytes bound for PostgreSQL, and a fault nobody foresaw.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator

import httpx
import pytest

from backbeat.runtime.testing import ServiceProcess
from tests.gateway.stack import PASSWORD, Account, Stack, new_email, sign_up

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == code


def as_header(account: Account) -> tuple[bytes, bytes]:
    return b"authorization", f"Bearer {account.access_token}".encode()


@pytest.fixture(scope="module")
def listener(fuzzed_gateway: ServiceProcess) -> Account:
    return sign_up(fuzzed_gateway.url)


@pytest.fixture(scope="module")
def bystander(fuzzed_gateway: ServiceProcess) -> Account:
    """Another user, whose requests follow the hostile ones."""
    return sign_up(fuzzed_gateway.url)


@pytest.fixture
def http(fuzzed_gateway: ServiceProcess) -> Iterator[httpx.Client]:
    """One keep-alive connection for the hostile request and the one after it: a service or
    gateway that closed it after a failure would fail the second."""
    with httpx.Client(base_url=fuzzed_gateway.url, timeout=30) as client:
        yield client


def assert_playback_serves(http: httpx.Client, account: Account) -> None:
    # The same service as the hostile request, so through the gateway's same pool.
    response = http.get("/api/playback/stats", headers=account.headers)
    assert response.status_code == 200, response.text


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# Valid ISO 8601 with an offset, but with no UTC equivalent in Python's calendar.
TIMES_WITHOUT_UTC = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00.000001+00:01",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:30:00-00:31",
]


@pytest.mark.parametrize("name", ["from", "to"])
@pytest.mark.parametrize("value", TIMES_WITHOUT_UTC)
@pytest.mark.parametrize("route", ["/api/playback/history", "/api/playback/stats"])
def test_a_time_without_a_utc_equivalent_is_a_422(
    http: httpx.Client, listener: Account, bystander: Account, route: str, name: str, value: str
) -> None:
    response = http.get(route, params={name: value}, headers=listener.headers)

    assert_problem(response, 422, "validation_error")
    assert "UTC" in response.json()["detail"]
    assert_playback_serves(http, bystander)


@pytest.mark.parametrize("route", ["/api/playback/history", "/api/playback/stats"])
def test_the_first_and_last_instants_of_the_calendar_are_served(
    http: httpx.Client, listener: Account, route: str
) -> None:
    response = http.get(
        route,
        params={"from": "0001-01-01T00:00:00Z", "to": "9999-12-31T23:59:59.999999Z"},
        headers=listener.headers,
    )
    assert response.status_code == 200, response.text


FORGED_CURSORS = {
    "year 1 ahead of UTC": cursor("0001-01-01T00:00:00+14:00|1"),
    "year 9999 behind UTC": cursor("9999-12-31T23:59:59-14:00|1"),
    "id beyond bigint": cursor("2020-01-01T00:00:00+00:00|9223372036854775808"),
    "id of twenty digits": cursor("2020-01-01T00:00:00+00:00|99999999999999999999"),
    "negative id": cursor("2020-01-01T00:00:00+00:00|-9"),
    "id zero": cursor("2020-01-01T00:00:00+00:00|0"),
    "id in Arabic-Indic digits": cursor("2020-01-01T00:00:00+00:00|١٢٣"),
    "no offset": cursor("2020-01-01T00:00:00|5"),
    "NUL in the time": cursor("2020-01-01T00:00:00+00:00\x00|5"),
    "not base64": "%%%%",
}


@pytest.mark.parametrize("forged", FORGED_CURSORS.values(), ids=FORGED_CURSORS.keys())
def test_a_history_cursor_this_api_did_not_hand_out_is_a_400(
    http: httpx.Client, listener: Account, bystander: Account, forged: str
) -> None:
    response = http.get(
        "/api/playback/history", params={"cursor": forged}, headers=listener.headers
    )

    assert_problem(response, 400, "invalid_cursor")
    assert_playback_serves(http, bystander)


def test_an_overlong_cursor_is_a_422(http: httpx.Client, listener: Account) -> None:
    response = http.get(
        "/api/playback/history", params={"cursor": "A" * 10_000}, headers=listener.headers
    )
    assert_problem(response, 422, "validation_error")


# Latin-1 bytes 0x80-0xff (obs-text): allowed in a field value, meaningless to Backbeat.
HIGH_BYTES = (b"x-client-note", bytes(range(0x80, 0x100)))


def test_a_header_with_bytes_0x80_to_0xff_does_not_stop_a_sign_in(
    http: httpx.Client, fuzzed_gateway: ServiceProcess
) -> None:
    email = new_email()
    assert http.post("/api/auth/signup", json={"email": email, "password": PASSWORD}).is_success

    response = http.post(
        "/api/auth/login",
        json={"email": email, "password": PASSWORD},
        headers=[HIGH_BYTES, (b"user-agent", "Navigateur \u00e9l\u00e9gant".encode("latin-1"))],
    )
    assert response.status_code == 200, response.text
    me = http.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["email"] == email


def test_a_header_with_bytes_0x80_to_0xff_on_a_signed_in_route_is_served(
    http: httpx.Client, listener: Account, bystander: Account
) -> None:
    for route in ("/api/auth/me", "/api/spotify/connection", "/api/playback/stats"):
        response = http.get(route, headers=[HIGH_BYTES, as_header(listener)])
        assert response.status_code == 200, (route, response.text)
    assert_playback_serves(http, bystander)


def test_an_authorization_header_of_bytes_0x80_to_0xff_is_a_401(
    http: httpx.Client, bystander: Account
) -> None:
    response = http.get("/api/playback/stats", headers=[(b"authorization", b"Bearer \xff\xfe\x80")])
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert_playback_serves(http, bystander)


def test_health_answers_whatever_bytes_the_headers_hold(
    stack: Stack, fuzzed_gateway: ServiceProcess, real_playback: ServiceProcess
) -> None:
    hostile = [
        HIGH_BYTES,
        (b"x-request-id", b"\xff\xfe"),
        (b"traceparent", b"00-\xff\xff-\x80-01"),
        (b"authorization", b"Bearer \xff"),
    ]
    for service in (fuzzed_gateway, stack.auth, stack.tokens, real_playback):
        with httpx.Client(base_url=service.url, timeout=10) as client:
            for path in ("/health/live", "/health/ready"):
                response = client.get(path, headers=hostile)
                assert response.status_code == 200, (service.name, path, response.text)
                assert response.headers["x-request-id"].isascii()


# Arabic-Indic, superscript, fullwidth and Devanagari: str.isdigit() takes them all.
OTHER_DIGITS = ["١٢٣", "¹²³", "\uff11\uff12\uff13", "१२३"]


@pytest.mark.parametrize("last_event_id", OTHER_DIGITS)
def test_a_last_event_id_in_digits_other_than_ascii_is_a_400(
    http: httpx.Client, listener: Account, bystander: Account, last_event_id: str
) -> None:
    response = http.get(
        "/api/playback/stream",
        headers=[(b"last-event-id", last_event_id.encode()), as_header(listener)],
    )

    assert_problem(response, 400, "invalid_last_event_id")
    assert_playback_serves(http, bystander)


def test_a_last_event_id_of_latin_1_superscripts_is_a_400_at_playback_itself(
    real_playback: ServiceProcess, listener: Account
) -> None:
    # b"\xb2\xb3" is "²³" in Latin-1: str.isdigit() says yes, int() says no.
    with httpx.Client(base_url=real_playback.url, timeout=10) as client:
        response = client.get(
            "/api/playback/stream",
            headers=[(b"last-event-id", b"\xb2\xb3"), as_header(listener)],
        )
        assert_problem(response, 400, "invalid_last_event_id")
        assert client.get("/api/playback/stats", headers=listener.headers).status_code == 200


# 315 characters as sent, 625 in lower case: "İ".lower() is "i" and a combining dot.
GROWS_IN_LOWER_CASE = "İ" * 60 + "@" + "İ" * 250 + ".com"


@pytest.mark.parametrize("route", ["/api/auth/signup", "/api/auth/login"])
def test_an_email_longer_than_the_column_in_lower_case_is_a_422(
    http: httpx.Client, bystander: Account, route: str
) -> None:
    assert len(GROWS_IN_LOWER_CASE) <= 320 < len(GROWS_IN_LOWER_CASE.lower())

    response = http.post(route, json={"email": GROWS_IN_LOWER_CASE, "password": PASSWORD})

    assert_problem(response, 422, "validation_error")
    assert "lower case" in response.json()["detail"]
    me = http.get("/api/auth/me", headers=bystander.headers)
    assert me.status_code == 200


def test_an_email_that_grows_in_lower_case_but_fits_signs_up_and_in(
    http: httpx.Client,
) -> None:
    email = f"İ{new_email()}"
    created = http.post("/api/auth/signup", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    login = http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text


@pytest.mark.parametrize(
    "email", ["a\x00b@example.com", "ab@exa\x00mple.com", "ab@example.com\x00"]
)
@pytest.mark.parametrize("route", ["/api/auth/signup", "/api/auth/login"])
def test_a_nul_byte_in_an_email_is_a_422(http: httpx.Client, route: str, email: str) -> None:
    response = http.post(route, json={"email": email, "password": PASSWORD})
    assert_problem(response, 422, "validation_error")


def test_a_password_with_a_nul_byte_is_hashed_not_stored(http: httpx.Client) -> None:
    email = new_email()
    password = "before\x00after and more"
    created = http.post("/api/auth/signup", json={"email": email, "password": password})
    assert created.status_code == 201, created.text

    right = http.post("/api/auth/login", json={"email": email, "password": password})
    cut_at_nul = http.post("/api/auth/login", json={"email": email, "password": "before"})

    assert right.status_code == 200
    assert_problem(cut_at_nul, 401, "invalid_credentials")


def test_a_refresh_token_with_a_nul_byte_is_a_401(http: httpx.Client) -> None:
    response = http.post("/api/auth/refresh", json={"refresh_token": "bbr_\x00abc"})
    assert_problem(response, 401, "invalid_refresh_token")


def test_a_spotify_callback_with_nul_bytes_is_not_a_server_error(
    http: httpx.Client, bystander: Account
) -> None:
    for query in ("state=a%00b&code=c%00d", "state=%00&error=access_denied%00", "state=%ff%00"):
        response = http.get(f"/api/spotify/callback?{query}")
        assert response.status_code < 500, (query, response.text)
    assert http.get("/api/spotify/connection", headers=bystander.headers).status_code == 200


@pytest.mark.parametrize(
    ("form", "headers"),
    [
        ({"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "s"}, {}),
        ({"grant_type": "client_credentials"}, {"authorization": b"Basic \xff\xfe"}),
        (
            {"grant_type": "client_credentials"},
            # "a\x00b:secret", the client id holding a NUL.
            {"authorization": b"Basic " + base64.b64encode(b"a\x00b:secret")},
        ),
    ],
    ids=["NUL in the form's client id", "Basic of bytes 0x80-0xff", "NUL in Basic's client id"],
)
def test_a_service_client_with_hostile_credentials_is_a_401(
    stack: Stack, form: dict[str, str], headers: dict[str, bytes]
) -> None:
    with httpx.Client(base_url=stack.auth.url, timeout=10) as client:
        response = client.post("/oauth/token", data=form, headers=list(headers.items()))
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_client"
        assert client.get("/health/live").status_code == 200


# The echo upstream has a route that fails with an exception nobody foresaw.


def test_an_unforeseen_fault_is_a_500_problem_with_the_request_id_and_no_internals(
    echo_gateway: ServiceProcess, account: Account
) -> None:
    with httpx.Client(base_url=echo_gateway.url, timeout=10) as client:
        response = client.get("/api/playback/fail", headers=account.headers)

    assert_problem(response, 500, "internal_error")
    body = response.json()
    assert body["request_id"] == response.headers["x-request-id"]
    for internal in ("hunter2", "postgresql", "RuntimeError", "Traceback", "db.internal"):
        assert internal not in response.text


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_fault_in_one_request_never_fails_the_next_one_of_another_user(
    stack: Stack, echo_gateway: ServiceProcess, method: str
) -> None:
    gateway = echo_gateway
    attacker, other = sign_up(gateway.url), sign_up(gateway.url)
    following = (method, "/api/playback/echo", 200)
    with (
        httpx.Client(base_url=gateway.url, timeout=10) as attacker_http,
        httpx.Client(base_url=gateway.url, timeout=10) as other_http,
    ):
        failures, afterwards = [], []
        for _ in range(15):
            failures.append(
                attacker_http.request(method, "/api/playback/fail", headers=attacker.headers)
            )
            afterwards.append(other_http.request(following[0], following[1], headers=other.headers))
        # The attacker's own connection is kept alive too.
        own_next = attacker_http.get("/api/playback/echo", headers=attacker.headers)

    assert [r.status_code for r in afterwards] == [following[2]] * 15
    assert own_next.status_code == 200
    for failed in failures:
        assert_problem(failed, 500, "internal_error")


def raw_request(url: str, request_target: bytes, headers: bytes = b"") -> int:
    """The status of a GET with the request target exactly as given, bytes 0x80-0xff and
    all (HTTP clients would percent-encode them)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"GET " + request_target + b" HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
            b"Connection: close\r\n" + headers + b"\r\n"
        )
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


@pytest.mark.parametrize(
    "target",
    [
        b"/api/playback/history?cursor=\xff\xfe&from=\xe9",
        b"/api/playback/\xff",
        b"/api/auth/\x80me",
        b"/api/spotify/callback?state=\xff&code=%00",
        b"/\xff",
    ],
)
def test_a_request_target_with_bytes_0x80_to_0xff_is_not_a_server_error(
    fuzzed_gateway: ServiceProcess, listener: Account, bystander: Account, target: bytes
) -> None:
    token = f"Authorization: Bearer {listener.access_token}\r\n".encode()
    assert raw_request(fuzzed_gateway.url, target, token) < 500
    with httpx.Client(base_url=fuzzed_gateway.url, timeout=10) as client:
        assert_playback_serves(client, bystander)
