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
