"""The client address the gateway signs for the services: only the gateway's signature, for
this request, recently, makes a service believe it."""

from __future__ import annotations

import pytest

from backbeat.authn.client_address import (
    AttestationRejected,
    AttestationRejection,
    attest_client_address,
    verified_client_address,
)

SECRET = b"edge-secret-for-these-tests-only"
OLD_SECRET = b"the-edge-secret-before-rotation"
NOW = 1_764_547_200


def attested(address: str = "198.51.100.7", *, secret: bytes = SECRET, at: int = NOW) -> str:
    header = attest_client_address(secret, address, "req-1", at)
    assert header is not None
    return header


def verify(header: str, *, request_id: str = "req-1", now: int = NOW) -> str:
    return verified_client_address(
        header, request_id=request_id, secrets=[SECRET, OLD_SECRET], now=now, max_age_s=30
    )


def rejection(header: str, **kwargs: object) -> AttestationRejection:
    with pytest.raises(AttestationRejected) as rejected:
        verify(header, **kwargs)  # type: ignore[arg-type]
    return rejected.value.reason


def test_the_gateway_s_signature_gives_the_address_it_saw() -> None:
    assert verify(attested()) == "198.51.100.7"
    assert verify(attested("2001:db8::1")) == "2001:db8::1"


def test_an_address_has_one_spelling() -> None:
    assert verify(attested("::ffff:198.51.100.7")) == "198.51.100.7"
    assert verify(attested("2001:0db8:0000::0001")) == "2001:db8::1"


def test_no_attestation_is_made_for_what_is_not_an_ip_address() -> None:
    assert attest_client_address(SECRET, "testclient", "req-1", NOW) is None


def test_a_signature_under_another_secret_is_refused() -> None:
    forged = attested(secret=b"a-secret-the-caller-made-up-here")
    assert rejection(forged) is AttestationRejection.BAD_SIGNATURE


def test_the_previous_secret_still_verifies_while_it_rotates() -> None:
    assert verify(attested(secret=OLD_SECRET)) == "198.51.100.7"


def test_another_address_under_a_real_signature_is_refused() -> None:
    version, _, at, signature = attested().split(";")
    swapped = ";".join([version, "203.0.113.9", at, signature])
    assert rejection(swapped) is AttestationRejection.BAD_SIGNATURE


def test_a_signature_for_another_request_is_refused() -> None:
    assert rejection(attested(), request_id="req-2") is AttestationRejection.BAD_SIGNATURE


def test_a_later_time_under_a_real_signature_is_refused() -> None:
    version, address, _, signature = attested(at=NOW - 600).split(";")
    refreshed = ";".join([version, address, str(NOW), signature])
    assert rejection(refreshed) is AttestationRejection.BAD_SIGNATURE


@pytest.mark.parametrize("age_s", [31, -31, 3600])
def test_a_signature_outside_the_window_is_refused(age_s: int) -> None:
    assert rejection(attested(at=NOW - age_s)) is AttestationRejection.STALE


@pytest.mark.parametrize("age_s", [0, 30, -30])
def test_a_signature_inside_the_window_is_accepted(age_s: int) -> None:
    assert verify(attested(at=NOW - age_s)) == "198.51.100.7"


@pytest.mark.parametrize(
    "header",
    [
        "",
        "198.51.100.7",
        "v2;198.51.100.7;1764547200;abc",
        "v1;198.51.100.7;1764547200",
        "v1;198.51.100.7;-5;abc",
        "v1;198.51.100.7;\uff11\uff12\uff13;abc",
        "v1;198.51.100.7;" + "9" * 5000 + ";abc",
        "v1;not-an-address;1764547200;abc",
        "v1;2001:0db8::1;1764547200;abc",
        "v1;198.51.100.7;1764547200;sig;extra",
    ],
)
def test_a_malformed_header_is_refused(header: str) -> None:
    assert rejection(header) is AttestationRejection.MALFORMED


def test_a_signature_that_is_not_ascii_is_refused_without_error() -> None:
    header = f"v1;198.51.100.7;{NOW};ünïcode"
    assert rejection(header) is AttestationRejection.BAD_SIGNATURE
