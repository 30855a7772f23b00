"""Which headers cross the gateway: the caller cannot forge where a request came from."""

from __future__ import annotations

from backbeat.authn.client_address import CLIENT_ADDRESS_HEADER
from backbeat.gateway.adapters.headers import downstream_response_headers, upstream_request_headers


def forwarded(incoming: list[tuple[str, str]]) -> dict[str, str]:
    headers = upstream_request_headers(
        incoming, request_id="req-1", client_address="198.51.100.7", scheme="http"
    )
    names = [name.lower() for name, _ in headers]
    assert len(names) == len(set(names)), f"duplicated headers: {names}"
    return {name.lower(): value for name, value in headers}


def test_the_authorization_header_reaches_the_service_unchanged() -> None:
    headers = forwarded([("Authorization", "Bearer abc.def.ghi"), ("Accept", "application/json")])
    assert headers["authorization"] == "Bearer abc.def.ghi"
    assert headers["accept"] == "application/json"


def test_a_forged_forwarded_for_is_replaced_by_the_address_the_gateway_sees() -> None:
    headers = forwarded(
        [
            ("X-Forwarded-For", "203.0.113.9"),
            ("Forwarded", "for=203.0.113.9"),
            ("X-Real-IP", "203.0.113.9"),
            ("Host", "backbeat.example"),
        ]
    )
    assert headers["x-forwarded-for"] == "198.51.100.7"
    assert "forwarded" not in headers and "x-real-ip" not in headers
    assert headers["x-forwarded-host"] == "backbeat.example"
    assert "host" not in headers


def test_the_request_id_is_the_gateway_s_and_hop_by_hop_headers_stay_behind() -> None:
    headers = forwarded(
        [
            ("x-request-id", "caller-chose-this"),
            ("Connection", "keep-alive, X-Secret-Hop"),
            ("X-Secret-Hop", "1"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "12"),
            ("Upgrade", "websocket"),
        ]
    )
    assert headers["x-request-id"] == "req-1"
    for name in ("connection", "x-secret-hop", "transfer-encoding", "content-length", "upgrade"):
        assert name not in headers


def test_a_redirect_s_location_returns_unchanged_without_duplicate_server_headers() -> None:
    headers = downstream_response_headers(
        [
            ("location", "http://127.0.0.1:8000/?spotify=connected"),
            ("x-request-id", "req-1"),
            ("date", "Mon, 01 Jan 2026 00:00:00 GMT"),
            ("server", "uvicorn"),
            ("transfer-encoding", "chunked"),
            ("content-type", "text/event-stream"),
        ]
    )
    assert headers == [
        ("location", "http://127.0.0.1:8000/?spotify=connected"),
        ("content-type", "text/event-stream"),
    ]


def test_a_caller_s_signed_address_header_never_reaches_a_service() -> None:
    forged = [("Backbeat-Client-Address", "v1;203.0.113.9;1764547200;forged")]
    assert CLIENT_ADDRESS_HEADER not in forwarded(forged)
    signed = upstream_request_headers(
        forged,
        request_id="req-1",
        client_address="198.51.100.7",
        scheme="http",
        client_attestation="v1;198.51.100.7;1764547200;by-the-gateway",
    )
    assert [value for name, value in signed if name.lower() == CLIENT_ADDRESS_HEADER] == [
        "v1;198.51.100.7;1764547200;by-the-gateway"
    ]
