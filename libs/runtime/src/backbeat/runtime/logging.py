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

from backbeat.runtime.outages import OutageFilter, outages

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
    r"password|passwd|new_password|old_password|password_hash|secret|client_secret|token|access_token|"
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
    # Password hashes anywhere: a database error's detail quotes the failing row ("Failing
    # row contains (..., $argon2id$v=19$m=...)"), whatever the statement's parameters show.
    # PHC strings (argon2, scrypt, pbkdf2, yescrypt), bcrypt, and crypt(3)'s SHA-2 ones.
    (
        re.compile(
            r"\$(?:argon2(?:id|i|d)|scrypt|pbkdf2[A-Za-z0-9-]*|balloon[A-Za-z0-9-]*)"
            r"(?:\$[A-Za-z0-9+/.=-]+(?:,[A-Za-z0-9+/.=-]+)*)+"
        ),
        REDACTED,
    ),
    (re.compile(r"\$(?:y|gy|7)\$[./A-Za-z0-9]+\$[./A-Za-z0-9]+\$[./A-Za-z0-9]+"), REDACTED),
    (re.compile(r"\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}"), REDACTED),
    (re.compile(r"\$[56]\$(?:rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{43,86}"), REDACTED),
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
    """Send every logger of the process to stderr as redacted JSON lines; a dependency's
    outage is told in a few lines, not once per failed retry (``backbeat.runtime.outages``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(OutageFilter(outages))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library loggers that log every request or heartbeat at INFO drown the service's own.
    for noisy in ("aiokafka", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
