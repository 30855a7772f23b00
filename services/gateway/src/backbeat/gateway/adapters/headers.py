"""Which headers cross the gateway, in each direction.

Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection and never cross. The
forwarding headers are the gateway's to set: a caller cannot claim another address through
``X-Forwarded-For``, since the gateway is the edge and replaces it with the address it sees.
``X-Forwarded-For`` is for logs only; a service that counts by address trusts the signed
``Backbeat-Client-Address`` alone (``backbeat.authn.client_address``), and a caller's copy of
that header never crosses either.
"""

from __future__ import annotations

from collections.abc import Iterable

from backbeat.authn.client_address import CLIENT_ADDRESS_HEADER
from backbeat.runtime.http import REQUEST_ID_HEADER

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

# Set by the gateway alone, whatever the caller sent.
_GATEWAY_SET = frozenset(
    {
        "host",
        "content-length",
        REQUEST_ID_HEADER,
        CLIENT_ADDRESS_HEADER,
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "forwarded",
        "x-real-ip",
    }
)

# The gateway's own server adds these (the request id by the runtime's middleware): the
# service's copies would be duplicates.
_RESPONSE_OWN = frozenset({REQUEST_ID_HEADER, "date", "server"})


def _connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    """Headers the ``Connection`` header names are hop-by-hop too."""
    return {
        token.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
        if token.strip()
    }


def upstream_request_headers(
    incoming: Iterable[tuple[str, str]],
    *,
    request_id: str,
    client_address: str,
    scheme: str,
    client_attestation: str | None = None,
) -> list[tuple[str, str]]:
    """The headers a service receives: the caller's (``Authorization`` unchanged) minus
    hop-by-hop ones, plus the request id and where the request came from (signed in
    ``client_attestation`` when given)."""
    incoming = list(incoming)
    drop = HOP_BY_HOP | _GATEWAY_SET | _connection_tokens(incoming)
    host = next((value for name, value in incoming if name.lower() == "host"), "")
    headers = [(name, value) for name, value in incoming if name.lower() not in drop]
    headers.append((REQUEST_ID_HEADER, request_id))
    headers.append(("x-forwarded-for", client_address))
    headers.append(("x-forwarded-proto", scheme))
    if host:
        headers.append(("x-forwarded-host", host))
    if client_attestation is not None:
        headers.append((CLIENT_ADDRESS_HEADER, client_attestation))
    return headers


def downstream_response_headers(upstream: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers the caller receives from a service's response (``Location`` unchanged)."""
    upstream = list(upstream)
    drop = HOP_BY_HOP | _RESPONSE_OWN | _connection_tokens(upstream)
    return [(name, value) for name, value in upstream if name.lower() not in drop]
