"""Runs a database operation, retrying transient failures with exponential backoff."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from backbeat.playback.store.failures import (
    PermanentStoreFailure,
    StoreFailure,
    TransientStoreFailure,
    classify,
)
from backbeat.runtime.outages import DATABASE, dependency_failure

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int = 5
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 5.0


async def with_store_retries(
    operation: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_transient: Callable[[TransientStoreFailure], None],
) -> T:
    """``operation()``'s result. Raises ``PermanentStoreFailure`` at once for a failure that
    will repeat, and ``TransientStoreFailure`` once the retries are used up: the caller then
    hands the records back to Kafka rather than dropping them."""
    delay = policy.initial_backoff_s
    attempt = 0
    while True:
        try:
            return await operation()
        except StoreFailure as failure:
            error: StoreFailure = failure
        except Exception as exc:  # every failure is classified; none is dropped
            error = classify(exc)
            # Kept for the traceback, and for the runtime's outage log to see a connection error.
            error.__cause__ = exc
            if isinstance(error, PermanentStoreFailure):
                raise error from exc
        if isinstance(error, PermanentStoreFailure):
            raise error
        assert isinstance(error, TransientStoreFailure)
        on_transient(error)
        if attempt >= policy.retries:
            raise error
        attempt += 1
        log.warning(
            "transient database failure; retrying",
            extra={
                "failure": str(error),
                "attempt": attempt,
                "retry_in_s": delay,
                # While the database is down these are held and counted, not written.
                **dependency_failure(DATABASE, error),
            },
        )
        await asyncio.sleep(delay)
        delay = min(delay * 2, policy.max_backoff_s)
