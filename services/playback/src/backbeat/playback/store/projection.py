"""Applies a batch of playback events to the database in the caller's transaction.

Exactly once, inside that one transaction: the users' rows are locked (in user id order, so
two appliers take them in the same order) and created first for users who have none, the
ids already applied are read, the domain folds each user's events (skipping applied ids and
sequences not after the last applied), and the new states, the applied ids and the completed
plays are written. If the transaction commits, all of it happened once; if not, none of it
did. The consumer commits Kafka offsets only after that commit, so a crash in between
redelivers events that this function then skips.

A batch costs the same handful of statements whatever its size (the rows of a statement
travel as one JSON document, see ``store.columnar``), so the consumer applies a whole poll of
records in one transaction.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import ARRAY, Text, any_, bindparam, delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from backbeat.playback.domain.listening import UserPlayback
from backbeat.playback.domain.play_rule import PlayRule
from backbeat.playback.domain.projection import IncomingEvent, SequenceGap, project_user
from backbeat.playback.store.columnar import as_rows, claim_rows, insert_rows, update_rows
from backbeat.playback.store.failures import TransientStoreFailure
from backbeat.playback.store.rows import play_to_row, state_from_row, state_to_row
from backbeat.playback.store.tables import erased_users, plays, processed_events, user_playback
from backbeat.runtime.database import Database


@dataclass(slots=True)
class BatchOutcome:
    """What applying a batch changed."""

    applied: int = 0
    skipped: int = 0
    """Events already applied (same id, or a sequence not after the user's last)."""
    dropped_for_erased_users: int = 0
    plays: int = 0
    gaps: list[SequenceGap] = field(default_factory=list)
    states: list[UserPlayback] = field(default_factory=list)
    """The users' states as written (for ``StateCache``, once the transaction commits)."""

    def merge(self, other: BatchOutcome) -> None:
        self.applied += other.applied
        self.skipped += other.skipped
        self.dropped_for_erased_users += other.dropped_for_erased_users
        self.plays += other.plays
        self.gaps.extend(other.gaps)
        self.states.extend(other.states)


@dataclass(frozen=True, slots=True)
class UserMark:
    """What a user's row says of its last write: enough to recognise a write of ours."""

    user_id: str
    last_sequence: int
    updated_at: datetime


class StateCache:
    """Users' states as this process last wrote them, each with the mark of that write (the
    row's last sequence and write time).

    Reading a state back from its row means decoding and validating its JSON columns into
    models, the largest cost of a batch after parsing the records. A locked row that still
    carries the mark of our own committed write holds exactly the state cached here, so only
    the mark is read and the state is used as it is; any other writer (another instance after
    a rebalance, an erasure) leaves a different mark, and the whole row is read instead.
    Writes are noted only after their transaction committed: one that rolled back never
    reaches the cache.
    """

    def __init__(self, max_users: int = 100_000) -> None:
        self.max_users = max_users
        self._states: OrderedDict[str, tuple[int, datetime, UserPlayback]] = OrderedDict()

    def state_at(self, mark: UserMark) -> UserPlayback | None:
        """The cached state of the user if their row still carries the mark of our write."""
        cached = self._states.get(mark.user_id)
        if cached is None or cached[0] != mark.last_sequence or cached[1] != mark.updated_at:
            return None
        self._states.move_to_end(mark.user_id)
        return cached[2]

    def wrote(self, state: UserPlayback, at: datetime) -> None:
        self._states[state.user_id] = (state.last_sequence, at, state)
        self._states.move_to_end(state.user_id)
        if len(self._states) > self.max_users:
            self._states.popitem(last=False)


def _text_array(name: str, values: list[str]) -> object:
    # One array parameter instead of one parameter per value: the statement text stays the
    # same for every batch size, so the driver reuses its prepared statement.
    return any_(bindparam(name, values, type_=ARRAY(Text)))


_STATE_COLUMNS = [column.name for column in user_playback.columns]
_NEW_USER_COLUMNS = ["user_id", "last_sequence", "is_playing", "updated_at"]
_PLAY_COLUMNS = [column.name for column in plays.columns if column.name != "id"]

_ADD_USERS = insert_rows(user_playback, _NEW_USER_COLUMNS, skip_conflicts=True, returning="user_id")
_UPDATE_STATES = update_rows(user_playback, "user_id", _STATE_COLUMNS)
_CLAIM_COLUMNS = ["event_id", "user_id", "sequence"]
# Claims the batch's ids and answers with those already claimed by an earlier transaction:
# almost always none, where returning the new ones would carry the whole batch back. The
# claim time is one value for the batch.
_CLAIM_IDS = claim_rows(processed_events, _CLAIM_COLUMNS, "event_id", stamp="processed_at")
_ADD_PLAYS = insert_rows(plays, _PLAY_COLUMNS, skip_conflicts=True)


async def _lock_marks(conn: AsyncConnection, user_ids: list[str]) -> dict[str, UserMark]:
    """Lock the users' rows that exist, in user id order, and read their marks (last
    sequence, write time): enough to tell whether ``StateCache`` holds their state."""
    rows = await conn.execute(
        select(user_playback.c.user_id, user_playback.c.last_sequence, user_playback.c.updated_at)
        .where(user_playback.c.user_id == _text_array("user_ids", user_ids))
        .order_by(user_playback.c.user_id)
        .with_for_update()
    )
    return {user_id: UserMark(user_id, last, at) for user_id, last, at in rows}


async def _read_states(conn: AsyncConnection, user_ids: list[str]) -> dict[str, UserPlayback]:
    """The whole rows of users whose rows this transaction already locked."""
    rows = await conn.execute(
        select(user_playback).where(user_playback.c.user_id == _text_array("user_ids", user_ids))
    )
    return {row.user_id: state_from_row(row) for row in rows}


async def apply_events(
    session: AsyncSession,
    events: Sequence[IncomingEvent],
    rule: PlayRule,
    *,
    now: datetime | None = None,
    cache: StateCache | None = None,
) -> BatchOutcome:
    """Apply ``events`` (in delivery order; one user's events in their order) exactly once.
    ``cache`` spares re-reading states this process wrote (see ``StateCache``); the states
    written are in the outcome, for the caller to note in it once the transaction commits."""
    now = now or datetime.now(UTC)
    outcome = BatchOutcome()
    by_user: dict[str, list[IncomingEvent]] = {}
    for event in events:
        by_user.setdefault(event.data.user_id, []).append(event)
    if not by_user:
        return outcome
    user_ids = sorted(by_user)
    conn = await session.connection()
    # Plan each lookup for the batch at hand: a plan cached while the tables were small
    # (sequential scans) would otherwise stay in use as they grow.
    await conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))

    # Most users of a batch already have a row: lock those first, and only make rows for the
    # others. A row made here is this transaction's alone until it commits; one that another
    # transaction made in between (the insert skips it) is locked like the rest. Two appliers
    # of the same users (a rebalance) that race to make the same rows can deadlock here;
    # PostgreSQL then fails one of them, which is a transient failure and is retried.
    marks = await _lock_marks(conn, user_ids)
    made: set[str] = set()
    missing = [user_id for user_id in user_ids if user_id not in marks]
    if missing:
        new_users = [
            {"user_id": user_id, "last_sequence": 0, "is_playing": False, "updated_at": now}
            for user_id in missing
        ]
        made = set((await conn.execute(_ADD_USERS, as_rows(new_users))).scalars())
        if others := [user_id for user_id in missing if user_id not in made]:
            marks.update(await _lock_marks(conn, others))

    # Read only after the rows are locked: an erasure that committed while this transaction
    # waited for the locks is then visible, and its user's events are dropped.
    erased = set(
        (
            await conn.execute(
                select(erased_users.c.user_id).where(
                    erased_users.c.user_id == _text_array("user_ids", user_ids)
                )
            )
        ).scalars()
    )
    if erased:
        # Remove the empty rows this transaction just made for them.
        await conn.execute(
            delete(user_playback).where(
                user_playback.c.user_id == _text_array("erased", sorted(erased)),
                user_playback.c.last_sequence == 0,
            )
        )
        outcome.dropped_for_erased_users = sum(len(by_user[user_id]) for user_id in erased)

    vanished = set(user_ids) - marks.keys() - made - erased
    if vanished:
        # Deleted between our insert and our lock by an erasure that had not yet committed its
        # mark when we read it; a retry sees the mark.
        raise TransientStoreFailure(f"{len(vanished)} user rows deleted concurrently")
    live = [user_id for user_id in user_ids if user_id not in erased]

    states: dict[str, UserPlayback] = {}
    unknown: list[str] = []
    for user_id in live:
        if user_id in made:
            states[user_id] = UserPlayback(user_id)
        elif cache is not None and (cached := cache.state_at(marks[user_id])) is not None:
            states[user_id] = cached
        else:
            unknown.append(user_id)
    if unknown:
        states.update(await _read_states(conn, unknown))

    # Claim every id of the batch: the statement answers with the ids an earlier transaction
    # already claimed (applied), and inserts the others. One statement, checked against the
    # primary key.
    claims: dict[str, dict[str, object]] = {}
    for user_id in live:
        for event in by_user[user_id]:
            claims.setdefault(
                event.event_id,
                {"event_id": event.event_id, "user_id": user_id, "sequence": event.data.sequence},
            )
    already_applied = set(
        (
            await conn.execute(
                _CLAIM_IDS,
                {**as_rows(list(claims.values())), "processed_at": now},
            )
        ).scalars()
    )

    state_rows: list[dict[str, object]] = []
    play_rows: list[dict[str, object]] = []
    for user_id in live:
        projection = project_user(states[user_id], by_user[user_id], rule, already_applied)
        outcome.skipped += projection.skipped
        outcome.gaps.extend(projection.gaps)
        if not projection.applied:
            continue
        outcome.applied += len(projection.applied)
        outcome.states.append(projection.state)
        state_rows.append(state_to_row(projection.state, now))
        play_rows.extend(play_to_row(play) for play in projection.plays)

    if state_rows:
        await conn.execute(_UPDATE_STATES, as_rows(state_rows))
    if play_rows:
        await conn.execute(_ADD_PLAYS, as_rows(play_rows))
        outcome.plays = len(play_rows)
    return outcome


class PlaybackProjection:
    """Applies batches, each in a transaction of its own, on the process's database."""

    def __init__(self, database: Database, rule: PlayRule) -> None:
        self.database = database
        self.rule = rule
        self.cache = StateCache()

    async def apply(self, events: Sequence[IncomingEvent]) -> BatchOutcome:
        """Apply and commit; returns once the transaction has committed."""
        now = datetime.now(UTC)
        async with self.database.session() as session:
            outcome = await apply_events(session, events, self.rule, now=now, cache=self.cache)
        for state in outcome.states:
            self.cache.wrote(state, now)
        return outcome
