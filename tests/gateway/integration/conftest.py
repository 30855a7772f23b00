"""The gateway with its default settings in front of the session's stack."""

from __future__ import annotations

import pytest

from backbeat.runtime.testing import ServiceProcess
from tests.gateway.stack import Account, Stack, sign_up


@pytest.fixture(scope="package")
def gateway(stack: Stack) -> ServiceProcess:
    return stack.main_gateway()


@pytest.fixture
def account(gateway: ServiceProcess) -> Account:
    return sign_up(gateway.url)
