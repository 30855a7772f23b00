"""No log line carries a bearer token, a refresh token, a password or a key."""

from __future__ import annotations

import io
import json
import logging

import pytest

from backbeat.runtime.logging import JsonFormatter, request_id_var

JWT = (
    "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0."
    "eyJzdWIiOiJ1c2VyLTEiLCJleHAiOjE3MDAwMDAwMDB9."
    "c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
)
REFRESH = "rt_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def captured() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    logger = logging.getLogger(f"redaction-test-{id(stream)}")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, stream


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_bearer_token_in_a_message_is_redacted(captured: tuple[logging.Logger, io.StringIO]):
    logger, stream = captured
    logger.info("calling tokens with Authorization: Bearer %s", JWT)
    assert JWT not in stream.getvalue()
    assert "Bearer [REDACTED]" in lines(stream)[0]["msg"]


def test_a_refresh_token_in_a_form_body_is_redacted(captured: tuple[logging.Logger, io.StringIO]):
    logger, stream = captured
    logger.warning("token request failed: grant_type=refresh_token&refresh_token=%s", REFRESH)
    assert REFRESH not in stream.getvalue()
    assert "grant_type=refresh_token" in stream.getvalue()


def test_a_password_in_json_and_in_extras_is_redacted(captured: tuple[logging.Logger, io.StringIO]):
    logger, stream = captured
    logger.info('signup body {"email": "a@b.c", "password": "%s"}', PASSWORD)
    logger.info(
        "signup", extra={"password": PASSWORD, "payload": {"refresh_token": REFRESH, "n": 1}}
    )
    text = stream.getvalue()
    assert PASSWORD not in text and REFRESH not in text
    first, second = lines(stream)
    assert "a@b.c" in str(first["msg"])
    assert second["password"] == "[REDACTED]"
    assert second["payload"] == {"refresh_token": "[REDACTED]", "n": 1}


def test_a_token_in_an_exception_traceback_is_redacted(
    captured: tuple[logging.Logger, io.StringIO],
):
    logger, stream = captured
    try:
        raise RuntimeError(f"spotify said no to access_token={REFRESH} and {JWT}")
    except RuntimeError:
        logger.exception("refresh failed")
    text = stream.getvalue()
    assert REFRESH not in text and JWT not in text
    assert "RuntimeError" in text


def test_ordinary_words_survive_and_the_request_id_is_attached(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    token = request_id_var.set("req-42")
    try:
        logger.info("token refreshed for user %s in %d ms", "user-1", 12)
    finally:
        request_id_var.reset(token)
    (line,) = lines(stream)
    assert line["msg"] == "token refreshed for user user-1 in 12 ms"
    assert line["request_id"] == "req-42"
    assert line["level"] == "info" and line["service"] == "test"


ARGON2 = (
    "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$"
    "2tOtQ5r3T0wz0dBBcT0o+Ek5oHbkHmU6UcTxCeHfP6c"
)
BCRYPT = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"
SCRYPT = "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E"
PBKDF2 = "$pbkdf2-sha256$29000$N2bMOYEQojTmfO.9/5.S4g$k3iF3b.pYqmAAQQu/sLMmIeVArGGu8HRj7LzWqGb5nQ"
SHA512_CRYPT = "$6$rounds=5000$saltsalt$" + "Wd1Zr5fOAWLuSa4a4vzD" * 4 + "abcdef"


@pytest.mark.parametrize("password_hash", [ARGON2, BCRYPT, SCRYPT, PBKDF2, SHA512_CRYPT])
def test_a_password_hash_a_database_error_quotes_is_redacted(
    captured: tuple[logging.Logger, io.StringIO], password_hash: str
) -> None:
    logger, stream = captured
    detail = (
        'new row for relation "users" violates check constraint "users_email_check"\n'
        f"DETAIL:  Failing row contains (6cb2, ada@example.com, {password_hash}, 2026-11-30)."
    )
    try:
        parameters = f"[parameters: ('6cb2', 'ada@example.com', '{password_hash}')]"
        raise RuntimeError(f"{detail}\n{parameters}")
    except RuntimeError:
        logger.exception("unhandled error", extra={"password_hash": password_hash})
    text = stream.getvalue()
    assert password_hash not in text
    # Nor a telling piece of it: the salt or the digest.
    assert password_hash.split("$")[-1] not in text
    (line,) = lines(stream)
    assert line["password_hash"] == "[REDACTED]"
    assert "Failing row contains (6cb2, ada@example.com, [REDACTED], 2026-11-30)" in str(
        line["exc"]
    )


def test_dollar_amounts_and_prices_survive_hash_redaction(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("plan costs $5 a month, $50 a year; track $7 of the album")
    assert lines(stream)[0]["msg"] == "plan costs $5 a month, $50 a year; track $7 of the album"
