"""Why an account operation was refused: types, not HTTP answers. The API maps each to its
problem details (status and stable ``code``) in one place, ``backbeat.auth.api.errors``."""

from __future__ import annotations

from backbeat.auth.domain.passwords import PasswordRejection
from backbeat.auth.domain.refresh import RefreshOutcome


class AccountRefused(Exception):
    """Base of every refusal; ``code`` is the stable machine code clients see."""

    code = "refused"


class PasswordRejected(AccountRefused):
    """The password is outside the policy's length bounds."""

    def __init__(self, rejection: PasswordRejection, min_length: int, max_length: int) -> None:
        super().__init__(rejection.value)
        self.code = rejection.value
        self.min_length = min_length
        self.max_length = max_length


class EmailTaken(AccountRefused):
    code = "email_taken"


class InvalidCredentials(AccountRefused):
    """The email or the password is wrong; which one is never said."""

    code = "invalid_credentials"


class TooManyAttempts(AccountRefused):
    """Too many wrong passwords for the account, the address or their pair."""

    code = "too_many_attempts"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class InvalidRefreshToken(AccountRefused):
    """No refresh token with this value was ever issued."""

    code = "invalid_refresh_token"


class RefreshRefused(AccountRefused):
    """The refresh token was issued but cannot be traded now: reused, expired or revoked."""

    def __init__(self, outcome: RefreshOutcome) -> None:
        super().__init__(outcome.value)
        self.code = outcome.value
        self.outcome = outcome


class SessionEnded(AccountRefused):
    """The access token's session was ended (or its user deleted) before the token expired."""

    code = "session_revoked"


class WrongPassword(AccountRefused):
    """The current password given to change it is wrong."""

    code = "wrong_password"
