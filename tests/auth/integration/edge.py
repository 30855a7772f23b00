"""Requests as the gateway forwards them to auth: with the caller's address signed."""

from __future__ import annotations

import time
import uuid

from backbeat.authn.client_address import CLIENT_ADDRESS_HEADER, attest_client_address

# What the gateway signs client addresses with in these tests (auth_test_settings uses it).
EDGE_SECRET = "auth-test-edge-secret-not-for-production"


def from_gateway(address: str, *, secret: str = EDGE_SECRET, age_s: int = 0) -> dict[str, str]:
    """The headers of a request the gateway forwards for a caller at ``address``: a request
    id and the address signed for it, with ``secret``, ``age_s`` seconds ago."""
    request_id = uuid.uuid4().hex
    attestation = attest_client_address(
        secret.encode(), address, request_id, int(time.time()) - age_s
    )
    assert attestation is not None
    return {"x-request-id": request_id, CLIENT_ADDRESS_HEADER: attestation}
