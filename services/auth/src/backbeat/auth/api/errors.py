"""The one place where an account operation's refusal becomes an HTTP problem."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

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
from backbeat.auth.domain.refresh import RefreshOutcome
from backbeat.runtime.problems import ProblemError, problem_response

_REFRESH_TITLES = {
    RefreshOutcome.REUSED: "The refresh token was already used; the session is ended",
    RefreshOutcome.EXPIRED: "The refresh token has expired",
    RefreshOutcome.REVOKED: "The session has ended",
}


def problem_for(refused: AccountRefused) -> ProblemError:
    match refused:
        case PasswordRejected():
            return ProblemError(
                422,
                refused.code,
                "The password does not meet the policy",
                f"passwords are {refused.min_length} to {refused.max_length} characters long",
            )
        case EmailTaken():
            return ProblemError(409, refused.code, "An account with this email already exists")
        case InvalidCredentials():
            return ProblemError(401, refused.code, "The email or password is wrong")
        case TooManyAttempts():
            return ProblemError(
                429,
                refused.code,
                "Too many wrong passwords; wait before trying again",
                headers={"Retry-After": str(refused.retry_after_s)},
            )
        case InvalidRefreshToken():
            return ProblemError(401, refused.code, "The refresh token is not valid")
        case RefreshRefused():
            return ProblemError(401, refused.code, _REFRESH_TITLES[refused.outcome])
        case SessionEnded():
            return ProblemError(401, refused.code, "The session has ended")
        case WrongPassword():
            return ProblemError(403, refused.code, "The current password is wrong")
    # A new refusal without its mapping is a bug: answer as an unforeseen failure would.
    raise TypeError(f"no problem mapping for {type(refused).__name__}")


def install_refusal_handler(app: FastAPI) -> None:
    async def on_refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AccountRefused)
        problem = problem_for(exc)
        return problem_response(
            request, problem.status, problem.code, problem.title, problem.detail, problem.headers
        )

    app.add_exception_handler(AccountRefused, on_refused)
