"""Password throttling through the real gateway and auth: auth counts each caller at the
address the gateway saw, so no caller can lock others out, wherever it sends what headers.

Callers get addresses of their own by connecting from different loopback addresses (the
whole 127.0.0.0/8 is this machine). Each run takes a /16 of its own, so counters left in the
test database by other tests and earlier runs never meet this run's.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from backbeat.authn.client_address import CLIENT_ADDRESS_HEADER, attest_client_address
from backbeat.runtime.testing import ServiceProcess
from tests.gateway.stack import PASSWORD, Stack, new_email

pytestmark = pytest.mark.integration

NEW_PASSWORD = "a brand new passphrase"


class Addresses:
    """Loopback addresses no other test uses: 127.<a>.<b>.<n>, a fresh n each time."""

    def __init__(self) -> None:
        self.prefix = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}"
        self.taken = 0

    def fresh(self) -> str:
        self.taken += 1
        assert self.taken < 255, "this run has used up its addresses"
        return f"{self.prefix}.{self.taken}"


@pytest.fixture(scope="module")
def addresses() -> Addresses:
    return Addresses()


class Caller:
    """HTTP from one client address."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.http = httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=60)

    def sign_in(
        self, base_url: str, email: str, password: str = PASSWORD, **headers: str
    ) -> httpx.Response:
        return self.http.post(
            f"{base_url}/api/auth/login",
            json={"email": email, "password": password},
            headers=headers,
        )

    def change_password(self, base_url: str, access_token: str, current: str) -> httpx.Response:
        return self.http.post(
            f"{base_url}/api/auth/password",
            json={"current_password": current, "new_password": NEW_PASSWORD},
            headers={"Authorization": f"Bearer {access_token}"},
        )


@pytest.fixture
def caller(addresses: Addresses) -> Iterator[Callable[[], Caller]]:
    """Makes callers, each at an address of its own."""
    opened: list[Caller] = []

    def at_fresh_address() -> Caller:
        opened.append(Caller(addresses.fresh()))
        return opened[-1]

    yield at_fresh_address
    for one in opened:
        one.http.close()


def signed_up(gateway: ServiceProcess, at: Caller) -> str:
    email = new_email()
    created = at.http.post(
        f"{gateway.url}/api/auth/signup", json={"email": email, "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    return email


def test_each_caller_reaches_the_gateway_from_its_own_address(
    gateway: ServiceProcess, echo_gateway: ServiceProcess, caller: Callable[[], Caller]
) -> None:
    # The premise of every test here: the gateway sees each caller at its loopback address.
    one, other = caller(), caller()
    email = signed_up(gateway, one)
    token = one.sign_in(gateway.url, email).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}

    seen_by_one = one.http.get(f"{echo_gateway.url}/api/playback/echo", headers=bearer)
    seen_by_other = other.http.get(f"{echo_gateway.url}/api/playback/echo", headers=bearer)

    assert seen_by_one.json()["forwarded_for"] == one.address
    assert seen_by_other.json()["forwarded_for"] == other.address


def test_an_attacker_s_wrong_passwords_do_not_keep_the_owner_out_from_elsewhere(
    gateway: ServiceProcess, caller: Callable[[], Caller]
) -> None:
    owner_home, attacker, owner_travelling = caller(), caller(), caller()
    email = signed_up(gateway, owner_home)
    assert owner_home.sign_in(gateway.url, email).status_code == 200

    answers = [attacker.sign_in(gateway.url, email, f"guess {n}").status_code for n in range(20)]
    at_home = owner_home.sign_in(gateway.url, email)
    travelling = owner_travelling.sign_in(gateway.url, email)

    assert answers[:5] == [401] * 5
    assert 429 in answers
    assert at_home.status_code == 200, at_home.text
    assert travelling.status_code == 200, travelling.text


def test_guesses_at_an_account_from_many_addresses_do_not_keep_its_owner_out(
    gateway: ServiceProcess, caller: Callable[[], Caller]
) -> None:
    # With auth's defaults: 50 failures at one account from anywhere start its rule.
    owner_home, owner_travelling = caller(), caller()
    email = signed_up(gateway, owner_home)
    assert owner_home.sign_in(gateway.url, email).status_code == 200
    botnet = [caller() for _ in range(11)]
    counted = 0
    for bot in botnet:
        for n in range(5):
            counted += bot.sign_in(gateway.url, email, f"guess {n}").status_code == 401

    bot_again = botnet[0].sign_in(gateway.url, email, "one more guess")
    at_home = owner_home.sign_in(gateway.url, email)
    travelling = owner_travelling.sign_in(gateway.url, email)

    assert counted > 50
    assert bot_again.status_code == 429
    assert at_home.status_code == 200, at_home.text
    assert travelling.status_code == 200, travelling.text


def test_a_caller_set_address_header_sent_to_the_gateway_is_not_counted(
    gateway: ServiceProcess, stack: Stack, caller: Callable[[], Caller]
) -> None:
    owner, attacker = caller(), caller()
    email = signed_up(gateway, owner)
    request_id = "forged-request-1"
    claims = {
        "X-Forwarded-For": owner.address,
        "X-Real-IP": owner.address,
        "Forwarded": f"for={owner.address}",
        "X-Request-Id": request_id,
        # Well formed, but signed with a secret the attacker made up.
        CLIENT_ADDRESS_HEADER: attest_client_address(
            b"not-the-gateway-s-secret-at-all", owner.address, request_id, int(time.time())
        )
        or "",
    }
    for n in range(6):
        attacker.sign_in(gateway.url, email, f"guess {n}", **claims)

    attacker_again = attacker.sign_in(gateway.url, email, "guess 7", **claims)
    at_owner_s_address = owner.sign_in(gateway.url, email)

    assert attacker_again.status_code == 429
    assert at_owner_s_address.status_code == 200, at_owner_s_address.text


def test_a_caller_set_address_header_sent_to_auth_directly_is_not_counted(
    gateway: ServiceProcess, stack: Stack, caller: Callable[[], Caller]
) -> None:
    owner, attacker = caller(), caller()
    email = signed_up(gateway, owner)
    request_id = "forged-request-2"
    claims = {
        "X-Forwarded-For": owner.address,
        "X-Request-Id": request_id,
        CLIENT_ADDRESS_HEADER: attest_client_address(
            b"not-the-gateway-s-secret-at-all", owner.address, request_id, int(time.time())
        )
        or "",
    }
    for n in range(6):
        attacker.sign_in(stack.auth.url, email, f"guess {n}", **claims)

    attacker_again = attacker.sign_in(stack.auth.url, email, "guess 7", **claims)
    at_owner_s_address = owner.sign_in(gateway.url, email)

    assert attacker_again.status_code == 429
    assert at_owner_s_address.status_code == 200, at_owner_s_address.text


def test_guesses_at_the_current_password_are_throttled_after_the_limit(
    gateway: ServiceProcess, caller: Callable[[], Caller]
) -> None:
    holder_of_a_stolen_token, owner = caller(), caller()
    email = signed_up(gateway, owner)
    token = holder_of_a_stolen_token.sign_in(gateway.url, email).json()["access_token"]

    answers = [
        holder_of_a_stolen_token.change_password(gateway.url, token, f"guess {n}") for n in range(8)
    ]
    codes = [answer.status_code for answer in answers]

    assert codes[:5] == [403] * 5
    assert codes[5] == 429
    throttled = answers[5]
    assert throttled.json()["code"] == "too_many_attempts"
    assert int(throttled.headers["retry-after"]) >= 1
    assert owner.sign_in(gateway.url, email).status_code == 200


def test_many_failures_from_one_address_do_not_throttle_sign_ins_from_others(
    gateway: ServiceProcess, caller: Callable[[], Caller]
) -> None:
    # With auth's defaults: 100 failures from one address over any accounts start its rule.
    stuffer, regular, neighbour = caller(), caller(), caller()
    regular_email = signed_up(gateway, regular)
    # The stuffer's address is also the regular's: a network both share.
    shared = Caller(stuffer.address)
    assert shared.sign_in(gateway.url, regular_email).status_code == 200
    neighbour_email = signed_up(gateway, neighbour)

    def stuff(_: int) -> int:
        return stuffer.sign_in(gateway.url, new_email(), "password123").status_code

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(stuff, range(104)))
    stranger_at_that_address = stuffer.sign_in(gateway.url, neighbour_email)
    regular_at_that_address = shared.sign_in(gateway.url, regular_email)
    elsewhere = neighbour.sign_in(gateway.url, neighbour_email)
    shared.http.close()

    assert answers.count(401) >= 100
    assert stranger_at_that_address.status_code == 429
    assert regular_at_that_address.status_code == 200, regular_at_that_address.text
    assert elsewhere.status_code == 200, elsewhere.text
