"""Retrying an operation that waits on infrastructure (Kafka, the database) until it works,
with exponential backoff: tenacity, configured one way for every service. What is policy of a
service's own (the watcher's poll schedule, tokens' refresh budget) stays in its domain."""

from __future__ import annotations

from collections.abc import Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential


def retry_until_it_works(
    errors: tuple[type[BaseException], ...],
    *,
    first_s: float,
    max_s: float,
    on_retry: Callable[[BaseException, float], None],
) -> AsyncRetrying:
    """Attempts for ``async for attempt in ...: with attempt: ...``: one of ``errors`` waits
    ``first_s``, doubling up to ``max_s``, and tries again, for as long as it takes; any
    other exception (and cancellation) goes straight through. ``on_retry(error, wait_s)``
    hears each failure before the wait, to log it."""

    def before_sleep(state: RetryCallState) -> None:
        assert state.outcome is not None and state.next_action is not None
        error = state.outcome.exception()
        assert error is not None
        on_retry(error, state.next_action.sleep)

    return AsyncRetrying(
        retry=retry_if_exception_type(errors),
        wait=wait_exponential(multiplier=first_s, min=first_s, max=max_s),
        before_sleep=before_sleep,
        reraise=True,
    )
