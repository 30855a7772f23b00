"""The gateway with its default settings in front of the session's stack, one in front of
the echo upstream (what forwarding does to a request), and one for fuzzing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backbeat.runtime.testing import ServiceProcess, free_port
from tests.gateway.stack import Account, Stack, sign_up


@pytest.fixture(scope="package")
def gateway(stack: Stack) -> ServiceProcess:
    return stack.main_gateway()


@pytest.fixture(scope="package")
def echo_gateway(stack: Stack) -> ServiceProcess:
    return stack.echo_gateway()


@pytest.fixture
def account(gateway: ServiceProcess) -> Account:
    return sign_up(gateway.url)


@pytest.fixture(scope="package")
def real_playback(stack: Stack) -> ServiceProcess:
    return stack.playback


@pytest.fixture(scope="package")
def fuzzed_gateway(stack: Stack) -> Iterator[ServiceProcess]:
    """A gateway in front of the stack, with rate limits high enough for fuzzing and its
    metrics on a port of their own (``metrics_port``)."""
    gateway = stack.gateway(
        "gateway-fuzzed",
        user_rate_per_s="1000",
        user_burst="1000",
        address_rate_per_s="1000",
        address_burst="1000",
        openapi_cache_s="0",
        metrics_port=str(free_port()),
    )
    yield gateway
    gateway.stop()
