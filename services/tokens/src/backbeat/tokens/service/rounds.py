"""Statements for concurrent callers served together: one statement per round instead of one
per caller, with each caller waiting for its own round only.

A caller joins the next round to start, never one already under way, so what a round reads
or writes is seen or done after the call began. Up to ``rounds_in_flight`` rounds run at once,
each on its own connection, kept while rounds follow each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from backbeat.runtime.database import Database

Item = TypeVar("Item")
Result = TypeVar("Result")

# One round: the items of its callers in, one result per item (same order) out.
RoundStatement = Callable[[AsyncConnection, list[Item]], Awaitable[Sequence[Result]]]


class StatementRounds(Generic[Item, Result]):
    def __init__(
        self,
        database: Database,
        statement: RoundStatement[Item, Result],
        *,
        name: str,
        max_batch: int = 500,
        rounds_in_flight: int = 2,
    ) -> None:
        if rounds_in_flight < 1:
            raise ValueError("rounds_in_flight must be at least 1")
        self.database = database
        self.statement = statement
        self.name = name
        self.max_batch = max_batch
        self.rounds_in_flight = rounds_in_flight
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._runners = 0
        # The runner tasks, held so that they are not collected while they run.
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Result:
        """``item``'s result once its round is done; the round's error if it failed. A caller
        that goes away cancels only its own wait: its item is the round's now."""
        done: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        if self._runners < self.rounds_in_flight:
            self._runners += 1
            task = asyncio.create_task(self._run(), name=self.name)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await done

    async def _run(self) -> None:
        try:
            await self._run_while_pending()
        finally:
            # No await between the runner's last look at the queue and this count: an item
            # that finds every runner busy is always taken by one of them.
            self._runners -= 1

    async def _run_while_pending(self) -> None:
        """Rounds until nothing is pending, over one connection while they follow each other:
        each round is then one statement outside a transaction block (its own transaction)
        instead of a checkout, a ping, BEGIN, the statement and COMMIT, which under load each
        wait their turn in the event loop. A failure is handed to the round's callers; the
        next round starts over on a fresh connection (the pool's ping at checkout replaces a
        broken one)."""
        while self._pending:
            batch = self._next_round()
            try:
                async with self.database.engine.connect() as connection:
                    await connection.execution_options(isolation_level="AUTOCOMMIT")
                    while True:
                        results = await self.statement(connection, [item for item, _ in batch])
                        _settle(batch, results, None)
                        if not self._pending:
                            break
                        batch = self._next_round()
            except Exception as error:  # noqa: BLE001 - handed to every waiting caller
                _settle(batch, None, error)
            # Items that came while the connection was being returned are seen here: the
            # runner ends only with no await between its last look and its end.

    def _next_round(self) -> list[tuple[Item, asyncio.Future[Result]]]:
        batch = self._pending[: self.max_batch]
        del self._pending[: self.max_batch]
        return batch


def _settle(
    batch: list[tuple[Item, asyncio.Future[Result]]],
    results: Sequence[Result] | None,
    error: Exception | None,
) -> None:
    for n, (_, done) in enumerate(batch):
        # Done already: its caller went away (cancelled), and nobody waits for it.
        if done.done():
            continue
        if results is not None:
            done.set_result(results[n])
        else:
            done.set_exception(error or RuntimeError("a round ended without results"))
