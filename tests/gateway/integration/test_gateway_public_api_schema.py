"""Schemathesis over the public API document, through the gateway, with a signed-in user:
no server error and no response that the document does not describe.

The services behind the gateway are the real auth and tokens, and the real playback service
(whose public operations are covered as soon as it documents them). The live stream is left
out: a response that never ends cannot be checked against a schema.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.failures import FailureGroup

from backbeat.runtime.testing import ServiceProcess
from tests.gateway.stack import Account, Stack, connect_spotify, sign_up

pytestmark = pytest.mark.integration

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzzed_user(stack: Stack, fuzzed_gateway: ServiceProcess) -> Account:
    account = sign_up(fuzzed_gateway.url)
    # Connected through the gateway the tokens service sends Spotify's redirect to.
    connect_spotify(stack.main_gateway().url, stack.fake.url, account)
    return account


@pytest.fixture(scope="module")
def public_api(fuzzed_gateway: ServiceProcess) -> schemathesis.BaseSchema:
    document = schemathesis.openapi.from_url(f"{fuzzed_gateway.url}/api/openapi.json")
    paths = set(document.raw_schema["paths"])
    # The document cannot pass vacuously: auth's and tokens' operations are all there.
    assert {"/api/auth/login", "/api/auth/me", "/api/spotify/connection"} <= paths
    return document.exclude(path="/api/playback/stream")


def test_the_public_api_answers_as_its_document_says(
    public_api: schemathesis.BaseSchema, fuzzed_gateway: ServiceProcess, fuzzed_user: Account
) -> None:
    failures: dict[str, str] = {}
    operations = [result.ok() for result in public_api.get_all_operations()]
    assert len(operations) >= 9

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def answers_as_documented(case: schemathesis.Case) -> None:
            case.call_and_validate(
                base_url=fuzzed_gateway.url,
                headers=fuzzed_user.headers,
                checks=CHECKS,
                timeout=30,
            )

        try:
            answers_as_documented()
        except (AssertionError, FailureGroup) as failure:
            # Collected so that one run reports every operation that fails, not the first.
            failures[operation.label] = str(failure)
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
