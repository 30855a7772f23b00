"""The client address the gateway attests to the services behind it.

Behind the gateway every request reaches a service from the gateway's own address, so a
service that counts by address (auth's sign-in throttling) needs the gateway to say where the
request came from. ``X-Forwarded-For`` cannot carry that: anyone who reaches the service's
port directly sets it to whatever they like. The gateway therefore signs the address it saw:
HMAC-SHA256, under a secret only the gateway and the services hold, over the address, the
request id and the time. A service takes the address only when the signature verifies and is
recent; otherwise it counts the connection's own address.

A shared secret rather than a service JWT per request: nothing to fetch or refresh, no call
to auth on the request path, and verifying is one HMAC. The window bounds the reuse of a
header seen inside the network to a few seconds, for the request id it names.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from collections.abc import Sequence
from enum import StrEnum

CLIENT_ADDRESS_HEADER = "backbeat-client-address"
_VERSION = "v1"


class AttestationRejection(StrEnum):
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    STALE = "stale"


class AttestationRejected(Exception):
    """The header does not prove a gateway-seen address; the reason is safe to log."""

    def __init__(self, reason: AttestationRejection) -> None:
        super().__init__(reason.value)
        self.reason = reason


def canonical_address(address: str) -> str | None:
    """The address as one spelling (``::ffff:198.51.100.7`` is ``198.51.100.7``), or None when
    it is not an IP address."""
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(parsed)


def _signature(secret: bytes, address: str, request_id: str, at: int) -> str:
    # Newline-separated: none of the parts can hold one (an IP address, a request id the
    # runtime validated, digits), so no two different triples sign the same message.
    message = f"backbeat-client-address\n{_VERSION}\n{address}\n{request_id}\n{at}".encode()
    mac = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def attest_client_address(secret: bytes, address: str, request_id: str, at: int) -> str | None:
    """The header value vouching that the request ``request_id`` came from ``address`` at
    ``at`` (Unix seconds); None when ``address`` is not an IP address."""
    canonical = canonical_address(address)
    if canonical is None:
        return None
    return f"{_VERSION};{canonical};{at};{_signature(secret, canonical, request_id, at)}"


def verified_client_address(
    header: str,
    *,
    request_id: str,
    secrets: Sequence[bytes],
    now: int,
    max_age_s: int,
) -> str:
    """The attested address, if ``header`` was signed under one of ``secrets`` (the current
    one and, while it rotates, the previous) for this request within ``max_age_s`` of
    ``now``, either way (clocks differ a little)."""
    parts = header.split(";")
    if len(parts) != 4 or parts[0] != _VERSION:
        raise AttestationRejected(AttestationRejection.MALFORMED)
    _, address, at_text, signature = parts
    if not (at_text.isascii() and at_text.isdigit() and len(at_text) <= 12):
        raise AttestationRejected(AttestationRejection.MALFORMED)
    if canonical_address(address) != address:
        raise AttestationRejected(AttestationRejection.MALFORMED)
    at = int(at_text)
    # Checked for every secret, without stopping at the first match, so timing does not tell
    # which one matched.
    presented = signature.encode()
    matches = [
        hmac.compare_digest(_signature(secret, address, request_id, at).encode(), presented)
        for secret in secrets
    ]
    if not any(matches):
        raise AttestationRejected(AttestationRejection.BAD_SIGNATURE)
    if abs(now - at) > max_age_s:
        raise AttestationRejected(AttestationRejection.STALE)
    return address
