"""Structured JSON logs with request and trace ids, and a filter that keeps secrets out of them.

Redaction happens on the formatted message and on every extra field, so a secret is removed
whether it arrives as an f-string, a ``%s`` argument, an ``extra={...}`` value or a traceback.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

REDACTED = "[REDACTED]"

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "backbeat_request_id", default=None
)
trace_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "backbeat_trace_id", default=None
)

# Names whose values are secrets wherever they appear: keys of extras, JSON keys, query
# parameters, form fields, "name=value" pairs.
_SENSITIVE_NAMES = (
    r"password|passwd|new_password|old_password|secret|client_secret|token|access_token|"
    r"refresh_token|id_token|api_key|apikey|private_key|signing_key|code_verifier|"
    r"authorization|cookie|set-cookie|encryption_key|key_material"
)
_SECRET_NAME_RE = re.compile(
    rf"^(?:{_SENSITIVE_NAMES})$|(?:_|-)(?:token|secret|password|key)$", re.I
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization headers: "Bearer <token>", "Basic <credentials>".
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.I), rf"\1 {REDACTED}"),
    # JWTs anywhere (three base64url parts, the first a JSON header).
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # JSON: "password": "..." and friends.
    (
        re.compile(rf"(\"(?:{_SENSITIVE_NAMES})\"\s*:\s*)\"(?:[^\"\\]|\\.)*\"", re.I),
        rf'\1"{REDACTED}"',
    ),
    # Python reprs: 'password': '...'.
    (re.compile(rf"('(?:{_SENSITIVE_NAMES})'\s*:\s*)'(?:[^'\\]|\\.)*'", re.I), rf"\1'{REDACTED}'"),
    # name=value in query strings, forms and free text.
    (re.compile(rf"\b((?:{_SENSITIVE_NAMES}))=([^\s&,;\"']+)", re.I), rf"\1={REDACTED}"),
    # "password: hunter2" in free text.
    (
        re.compile(
            rf"\b((?:{_SENSITIVE_NAMES})):\s+(?!Bearer\b|Basic\b|\[REDACTED\])([^\s,;\"']+)", re.I
        ),
        rf"\1: {REDACTED}",
    ),
)


def redact(text: str) -> str:
    """Remove every secret-looking value from a piece of text."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(name: str, value: Any) -> Any:
    """Redact a structured value: secret-named keys lose their value, strings are scanned."""
    if _SECRET_NAME_RE.search(name):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(name, v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, secrets redacted, request and trace ids attached."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        trace_id = trace_id_var.get()
        if trace_id:
            entry["trace_id"] = trace_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = redact_value(key, value)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every logger of the process to stderr as redacted JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library loggers that log every request or heartbeat at INFO drown the service's own.
    for noisy in ("aiokafka", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
