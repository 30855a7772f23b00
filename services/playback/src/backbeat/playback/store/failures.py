"""Permanent and transient database failures, told apart by type so callers never parse text.

Transient: the database is unreachable, restarting, out of resources, or the transaction lost
a race (serialization failure, deadlock, a concurrent insert of the same key); trying again
later succeeds. Anything else is permanent for the records that caused it.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# SQLSTATE classes and codes worth retrying (PostgreSQL, Appendix A): 08 connection exception,
# 40 transaction rollback (serialization failure, deadlock), 53 insufficient resources,
# 57P operator intervention (admin shutdown, crash shutdown, cannot connect now),
# 23505 unique violation (two writers inserting the same key at once).
_TRANSIENT_CLASSES = ("08", "40", "53", "57P")
_TRANSIENT_CODES = frozenset({"23505", "55P03"})


class StoreFailure(Exception):
    """The database refused or could not run a transaction."""


class TransientStoreFailure(StoreFailure):
    """Retrying later will succeed: never dead-letter because of one."""


class PermanentStoreFailure(StoreFailure):
    """The same records will fail again."""


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE code of a database error, wherever the driver put it."""
    seen: BaseException | None = exc
    while seen is not None:
        code = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        if isinstance(code, str):
            return code
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


def classify(exc: Exception) -> StoreFailure:
    """Wrap a failure of a database call as transient or permanent."""
    if isinstance(exc, OSError | TimeoutError | PoolTimeoutError | ConnectionError):
        return TransientStoreFailure(f"database unavailable: {type(exc).__name__}")
    if isinstance(exc, DBAPIError):
        code = sqlstate_of(exc)
        label = f"{type(exc).__name__} (SQLSTATE {code})"
        if exc.connection_invalidated:
            return TransientStoreFailure(f"connection lost: {label}")
        if code is None or code.startswith(_TRANSIENT_CLASSES) or code in _TRANSIENT_CODES:
            # No code means the driver failed before the server answered: a connection issue.
            return TransientStoreFailure(label)
        return PermanentStoreFailure(label)
    return PermanentStoreFailure(type(exc).__name__)
