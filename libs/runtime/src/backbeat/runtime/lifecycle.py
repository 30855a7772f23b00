"""What a service starts and stops, declared where each part is built.

Every service composes itself the same way: ``create_app`` builds its parts and, for each one
that has to be started or closed, tells the service's :class:`Lifecycle` right there, in the
order the parts must start. The lifespan then starts them in that order and stops them in
the reverse one. A part is stopped only if it started; every stop runs even when an earlier
one failed (the first failure is raised after all ran); a start that fails stops what
started before it. One pattern, so no service has to hand-write its teardown.

    life = Lifecycle()
    app = create_service_app(service="tokens", lifespan=life.lifespan, ...)
    database = Database(...)
    life.closes(database.dispose)                     # last to go: registered first
    life.starts(feed.start, feed.stop)                # started, then stopped in reverse
    life.runs("outbox-relay", outbox.run)             # a task, cancelled when stopping
    life.enters(lambda: metrics_listener(...))        # an async context, entered and left

Parts whose construction needs the running event loop (Kafka clients) are built when the
service starts: ``life.builds(lambda: Watcher(...), started=keep)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, Protocol, TypeVar

Step = Callable[[AsyncExitStack], Awaitable[None]]


class Startable(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


S = TypeVar("S", bound=Startable)


async def _call(action: Callable[[], object]) -> None:
    result = action()
    if inspect.isawaitable(result):
        await result


class Lifecycle:
    def __init__(self) -> None:
        self._steps: list[Step] = []

    def closes(self, close: Callable[[], object]) -> None:
        """``close`` runs when the service stops (nothing to start: a pool, a client)."""

        async def step(stack: AsyncExitStack) -> None:
            stack.push_async_callback(_call, close)

        self._steps.append(step)

    def starts(self, start: Callable[[], object], stop: Callable[[], object] | None = None) -> None:
        """``start`` runs (awaited if it returns an awaitable) when the service starts;
        ``stop`` when it stops, if ``start`` returned."""

        async def step(stack: AsyncExitStack) -> None:
            await _call(start)
            if stop is not None:
                stack.push_async_callback(_call, stop)

        self._steps.append(step)

    def runs(self, name: str, main: Callable[[], Coroutine[Any, Any, object]]) -> None:
        """``main()`` runs as a task of its own while the service runs; cancelled, then
        awaited, when it stops."""

        async def step(stack: AsyncExitStack) -> None:
            task = asyncio.create_task(main(), name=name)

            async def cancel() -> None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

            stack.push_async_callback(cancel)

        self._steps.append(step)

    def enters(self, context: Callable[[], AbstractAsyncContextManager[object]]) -> None:
        """``context()`` is entered when the service starts and left when it stops."""

        async def step(stack: AsyncExitStack) -> None:
            await stack.enter_async_context(context())

        self._steps.append(step)

    def builds(
        self, build: Callable[[], S], *, started: Callable[[S], object] | None = None
    ) -> None:
        """``build()`` makes a part when the service starts (a part whose construction wants
        the running event loop: Kafka clients), which is then started and handed to
        ``started``; it is stopped when the service stops."""

        async def step(stack: AsyncExitStack) -> None:
            part = build()
            await part.start()
            stack.push_async_callback(part.stop)
            if started is not None:
                started(part)

        self._steps.append(step)

    @asynccontextmanager
    async def lifespan(self, _app: object = None) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for step in self._steps:
                await step(stack)
            yield
