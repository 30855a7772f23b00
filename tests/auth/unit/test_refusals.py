"""Every refusal of an account operation reaches the client as the same problem as before the
use cases stopped speaking HTTP: status, stable code, and Retry-After where it applies."""

from __future__ import annotations

import pytest

from backbeat.auth.api.errors import problem_for
from backbeat.auth.domain.errors import (
    AccountRefused,
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    PasswordRejected,
    RefreshRefused,
    SessionEnded,
    TooManyAttempts,
    WrongPassword,
)
from backbeat.auth.domain.passwords import PasswordRejection
from backbeat.auth.domain.refresh import RefreshOutcome


@pytest.mark.parametrize(
    ("refused", "status", "code"),
    [
        (PasswordRejected(PasswordRejection.TOO_SHORT, 12, 256), 422, "password_too_short"),
        (PasswordRejected(PasswordRejection.TOO_LONG, 12, 256), 422, "password_too_long"),
        (EmailTaken(), 409, "email_taken"),
        (InvalidCredentials(), 401, "invalid_credentials"),
        (TooManyAttempts(7), 429, "too_many_attempts"),
        (InvalidRefreshToken(), 401, "invalid_refresh_token"),
        (RefreshRefused(RefreshOutcome.REUSED), 401, "refresh_token_reused"),
        (RefreshRefused(RefreshOutcome.EXPIRED), 401, "refresh_token_expired"),
        (RefreshRefused(RefreshOutcome.REVOKED), 401, "session_revoked"),
        (SessionEnded(), 401, "session_revoked"),
        (WrongPassword(), 403, "wrong_password"),
    ],
)
def test_each_refusal_has_its_status_and_stable_code(
    refused: AccountRefused, status: int, code: str
) -> None:
    problem = problem_for(refused)
    assert (problem.status, problem.code) == (status, code)
    assert problem.title


def test_throttling_says_when_to_come_back() -> None:
    problem = problem_for(TooManyAttempts(7))
    assert problem.headers == {"Retry-After": "7"}


def test_the_password_policy_is_stated_in_the_detail() -> None:
    problem = problem_for(PasswordRejected(PasswordRejection.TOO_SHORT, 12, 256))
    assert problem.detail == "passwords are 12 to 256 characters long"


def test_a_refusal_without_a_mapping_is_a_bug_not_a_silent_answer() -> None:
    class Unmapped(AccountRefused):
        code = "unmapped"

    with pytest.raises(TypeError, match="Unmapped"):
        problem_for(Unmapped())


def test_no_refusal_carries_what_the_user_typed() -> None:
    # Refusals may reach logs: an email or password in their message would leak there.
    for refused in (EmailTaken(), InvalidCredentials(), WrongPassword()):
        assert str(refused) == ""
