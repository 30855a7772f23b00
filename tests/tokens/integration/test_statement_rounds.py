"""Concurrent callers served by one statement per round: each caller gets its own result,
never from a round that began before its call, and a failed round fails only its callers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from backbeat.runtime.database import Database
from backbeat.tokens.service.errors import NotConnected
from backbeat.tokens.service.rounds import StatementRounds
from backbeat.tokens.store.tables import credentials

from .test_handout import SpotifyAccounts, connect, dispenser

pytestmark = pytest.mark.integration


class HeldStatement:
    """A round statement that answers each item with itself and can be held mid-round."""

    def __init__(self) -> None:
        self.rounds: list[list[str]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(self, connection: AsyncConnection, items: list[str]) -> list[str]:
        self.rounds.append(list(items))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await connection.execute(text("SELECT 1"))
            await self.release.wait()
            return [f"result-{item}" for item in items]
        finally:
            self.in_flight -= 1


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.005)


async def test_a_call_made_while_a_round_is_under_way_waits_for_a_round_of_its_own(
    tokens_db: Database,
) -> None:
    statement = HeldStatement()
    rounds = StatementRounds(tokens_db, statement, name="test", rounds_in_flight=1)
    statement.release.clear()
    first = asyncio.create_task(rounds.submit("a"))
    await until(lambda: statement.rounds == [["a"]], "the first round did not start")

    later = [asyncio.create_task(rounds.submit(item)) for item in ("b", "c")]
    await asyncio.sleep(0.05)
    statement.release.set()

    assert await first == "result-a"
    assert await asyncio.gather(*later) == ["result-b", "result-c"]
    # What began before b and c were asked for answered a alone.
    assert statement.rounds == [["a"], ["b", "c"]]


async def test_no_more_rounds_run_at_once_than_allowed(tokens_db: Database) -> None:
    statement = HeldStatement()
    rounds = StatementRounds(tokens_db, statement, name="test", rounds_in_flight=2)
    statement.release.clear()
    waiting = [asyncio.create_task(rounds.submit(str(n))) for n in range(3)]
    await until(lambda: len(statement.rounds) >= 1, "no round started")
    more = [asyncio.create_task(rounds.submit(str(n))) for n in range(3, 9)]
    await until(lambda: statement.in_flight == 2, "a second round did not start")
    await asyncio.sleep(0.05)
    assert statement.most_in_flight == 2

    statement.release.set()
    results = await asyncio.gather(*waiting, *more)

    assert results == [f"result-{n}" for n in range(9)]
    assert statement.most_in_flight == 2
    assert sorted(item for r in statement.rounds for item in r) == [str(n) for n in range(9)]


async def test_a_failed_round_fails_its_own_callers_and_the_next_round_succeeds(
    tokens_db: Database,
) -> None:
    failures = ["boom"]

    async def statement(connection: AsyncConnection, items: list[str]) -> list[str]:
        await connection.execute(text("SELECT 1"))
        if failures:
            raise RuntimeError(failures.pop())
        return items

    rounds = StatementRounds(tokens_db, statement, name="test", rounds_in_flight=1)
    with pytest.raises(RuntimeError, match="boom"):
        await rounds.submit("a")
    assert await asyncio.wait_for(rounds.submit("b"), 5) == "b"


async def test_users_read_together_each_get_their_own_token(tokens_db: Database) -> None:
    users = [f"user-{n}" for n in range(40)]
    for user in users:
        await connect(tokens_db, user, expired=False)
    handout = dispenser(tokens_db, SpotifyAccounts())
    asked = [*users, "never-connected", *users]

    results = await asyncio.gather(
        *(handout.access_token(user, actor="svc:test") for user in asked),
        return_exceptions=True,
    )

    for user, result in zip(asked, results, strict=True):
        if user == "never-connected":
            assert isinstance(result, NotConnected)
        else:
            assert not isinstance(result, BaseException)
            assert result.token == f"initial-access-{user}"


async def test_a_read_asked_for_after_a_disconnect_does_not_find_the_old_token(
    tokens_db: Database,
) -> None:
    await connect(tokens_db, "user-1", expired=False)
    handout = dispenser(tokens_db, SpotifyAccounts())
    # Keep reads of other users going, so that reads are under way when the row goes.
    for n in range(20):
        await connect(tokens_db, f"other-{n}", expired=False)
    background = [
        asyncio.create_task(handout.access_token(f"other-{n}", actor="svc:test")) for n in range(20)
    ]
    async with tokens_db.session() as session:
        await session.execute(credentials.delete().where(credentials.c.user_id == "user-1"))

    with pytest.raises(NotConnected):
        await handout.access_token("user-1", actor="svc:test")
    await asyncio.gather(*background)
