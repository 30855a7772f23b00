"""Applies a batch of playback events to the database in the caller's transaction.

Exactly once, inside that one transaction: the users' rows are created if missing and locked
(in user id order, so two appliers cannot deadlock), the ids already applied are read, the
domain folds each user's events (skipping applied ids and sequences not after the last
applied), and the new states, the applied ids and the completed plays are written. If the
transaction commits, all of it happened once; if not, none of it did. The consumer commits
Kafka offsets only after that commit, so a crash in between redelivers events that this
function then skips.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ARRAY, Row, Text, any_, bindparam, delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from backbeat.playback.domain.listening import UserPlayback
from backbeat.playback.domain.play_rule import PlayRule
from backbeat.playback.domain.projection import IncomingEvent, SequenceGap, project_user
from backbeat.playback.store.columnar import as_arrays, insert_rows, update_rows
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

    def merge(self, other: BatchOutcome) -> None:
        self.applied += other.applied
        self.skipped += other.skipped
        self.dropped_for_erased_users += other.dropped_for_erased_users
        self.plays += other.plays
        self.gaps.extend(other.gaps)


class StateCache:
    """Users' states as this process last wrote them, each with the mark of that write (the
    row's last sequence and write time).

    Reading a state back from its row means validating its JSON columns into models, the
    largest cost of a batch after parsing the records. A locked row that still carries the
    mark of our own write holds exactly the state cached here, so it is used as it is; any
    other writer (another instance after a rebalance, an erasure, a transaction of ours that
    rolled back) leaves a different mark, and the row is read instead.
    """

    def __init__(self, max_users: int = 100_000) -> None:
        self.max_users = max_users
        self._states: OrderedDict[str, tuple[int, datetime, UserPlayback]] = OrderedDict()

    def state_of(self, row: Row[Any]) -> UserPlayback:
        cached = self._states.get(row.user_id)
        if cached is not None and cached[0] == row.last_sequence and cached[1] == row.updated_at:
            self._states.move_to_end(row.user_id)
            return cached[2]
        return state_from_row(row)

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
_APPLIED_COLUMNS = [column.name for column in processed_events.columns]
_PLAY_COLUMNS = [column.name for column in plays.columns if column.name != "id"]

_ADD_USERS = insert_rows(user_playback, _NEW_USER_COLUMNS, skip_conflicts=True)
_UPDATE_STATES = update_rows(user_playback, "user_id", _STATE_COLUMNS)
_CLAIM_IDS = insert_rows(
    processed_events, _APPLIED_COLUMNS, skip_conflicts=True, returning="event_id"
)
_ADD_PLAYS = insert_rows(plays, _PLAY_COLUMNS, skip_conflicts=True)


async def apply_events(
    session: AsyncSession,
    events: Sequence[IncomingEvent],
    rule: PlayRule,
    *,
    now: datetime | None = None,
    cache: StateCache | None = None,
) -> BatchOutcome:
    """Apply ``events`` (in delivery order; one user's events in their order) exactly once.
    ``cache`` spares re-reading states this process wrote (see ``StateCache``)."""
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

    new_users = [
        {"user_id": user_id, "last_sequence": 0, "is_playing": False, "updated_at": now}
        for user_id in user_ids
    ]
    await conn.execute(_ADD_USERS, as_arrays(user_playback, new_users, _NEW_USER_COLUMNS))
    rows = (
        await conn.execute(
            select(user_playback)
            .where(user_playback.c.user_id == _text_array("user_ids", user_ids))
            .order_by(user_playback.c.user_id)
            .with_for_update()
        )
    ).all()
    read_state = cache.state_of if cache is not None else state_from_row
    states = {row.user_id: read_state(row) for row in rows}

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

    vanished = set(user_ids) - states.keys() - erased
    if vanished:
        # Deleted between our insert and our lock by an erasure that had not yet committed its
        # mark when we read it; a retry sees the mark.
        raise TransientStoreFailure(f"{len(vanished)} user rows deleted concurrently")
    live = [user_id for user_id in user_ids if user_id not in erased]
    # Claim every id of the batch: the ids the insert returns are new, the others were applied
    # by an earlier transaction. One statement, checked against the primary key.
    claims: dict[str, dict[str, object]] = {}
    for user_id in live:
        for event in by_user[user_id]:
            claims.setdefault(
                event.event_id,
                {
                    "event_id": event.event_id,
                    "user_id": user_id,
                    "sequence": event.data.sequence,
                    "processed_at": now,
                },
            )
    new_ids = set(
        (
            await conn.execute(
                _CLAIM_IDS, as_arrays(processed_events, list(claims.values()), _APPLIED_COLUMNS)
            )
        ).scalars()
    )
    already_applied = claims.keys() - new_ids

    state_rows: list[dict[str, object]] = []
    play_rows: list[dict[str, object]] = []
    for user_id in live:
        projection = project_user(states[user_id], by_user[user_id], rule, already_applied)
        outcome.skipped += projection.skipped
        outcome.gaps.extend(projection.gaps)
        if not projection.applied:
            continue
        outcome.applied += len(projection.applied)
        state_rows.append(state_to_row(projection.state, now))
        if cache is not None:
            cache.wrote(projection.state, now)
        play_rows.extend(play_to_row(play) for play in projection.plays)

    if state_rows:
        await conn.execute(_UPDATE_STATES, as_arrays(user_playback, state_rows, _STATE_COLUMNS))
    if play_rows:
        await conn.execute(_ADD_PLAYS, as_arrays(plays, play_rows, _PLAY_COLUMNS))
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
        async with self.database.session() as session:
            return await apply_events(session, events, self.rule, cache=self.cache)
