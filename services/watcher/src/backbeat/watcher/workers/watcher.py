"""The running watcher: Kafka ownership, the poll scheduler and the publisher wired together.

The collaborators that reach outside over HTTP (the Spotify reader, the access-token source)
are handed in, built and closed by the service's composition (``backbeat.watcher.app``); the
Kafka clients are the watcher's own, started and stopped with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
from datetime import datetime

from backbeat.events.connections import ConnectionState
from backbeat.events.presence import PRESENCE_PARTITIONS, PRESENCE_TOPIC_CONFIG
from backbeat.runtime.kafka import TopicSpec, ensure_topics
from backbeat.watcher.adapters.clock import Clock, RealClock
from backbeat.watcher.adapters.publisher import Publisher
from backbeat.watcher.adapters.spotify_reader import PlaybackReader
from backbeat.watcher.consumers.budget_share import OwnedBudgetShare, RatePauseChannel
from backbeat.watcher.consumers.ownership import (
    ConnectionOwnership,
    partition_count,
    pollable,
)
from backbeat.watcher.consumers.presence import PresenceTail
from backbeat.watcher.domain.attention import ViewerBoard
from backbeat.watcher.domain.rate_budget import RateBudgets
from backbeat.watcher.domain.timeline import Observation, WatchState
from backbeat.watcher.service.access_tokens import AccessTokenSource
from backbeat.watcher.service.scheduler import (
    DEFAULT_APP,
    PollScheduler,
    SchedulerPolicy,
    WatchedUser,
)
from backbeat.watcher.settings import WatcherSettings
from backbeat.watcher.store.state_store import (
    RetainedStates,
    changelog_ends,
    restore_partition,
)
from backbeat.watcher.workers.metrics import WatcherMetrics

log = logging.getLogger(__name__)

# The tokens service creates this topic with this many partitions; the watcher only creates
# it when it starts first.
CONNECTIONS_PARTITIONS = 12

# Connection records that arrived during a partition's restore, applied between two turns of
# the event loop once it has finished.
_CONNECTIONS_PER_TURN = 500
# A restore that failed (Kafka unreachable) is tried again after this long, doubling.
_RESTORE_RETRY_S = (1.0, 30.0)


def _spare_long_lived_from_collection() -> None:
    """Keep the cycle collector's full passes off what lives as long as the process.

    A full pass walks every object of the process (modules, the framework, every watched
    user's state), and the default thresholds brought one every 40 s or so at 25,000 users,
    measured 0.3 to 0.9 s each on a busy host: a stall that made every poll falling due
    meanwhile late, the whole of the schedule lag's p99. What exists once started is frozen
    (left out of the passes), and a young collection comes every 200,000 allocations rather
    than 700: each poll's objects are mostly freed by then, so few get promoted, and the full
    passes come minutes apart instead of seconds. The polls' data hold no cycles; the few
    that asyncio makes are still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(200_000, 20, 20)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class Watcher:
    def __init__(
        self,
        settings: WatcherSettings,
        *,
        reader: PlaybackReader,
        tokens: AccessTokenSource,
        clock: Clock | None = None,
        metrics: WatcherMetrics | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or RealClock()
        self.metrics = metrics or WatcherMetrics()
        # Who has a live stream open: those users are polled fast (see the schedule).
        self.viewers = ViewerBoard()
        self.publisher = Publisher(
            settings.kafka_bootstrap,
            events_topic=settings.events_topic,
            state_topic=settings.state_topic,
            transactional_id_prefix=settings.transactional_id_prefix,
            commit_interval_s=settings.commit_interval_ms / 1000,
            checkpoint_interval_s=settings.state_checkpoint_interval_ms / 1000,
            metrics=self.metrics,
            on_fenced=self._fenced,
        )
        # The app's budget is the deployment's: this instance spends the share of it that
        # its partitions are of them all (none until it owns some).
        self.budgets = RateBudgets(
            settings.rate_budget_per_s, settings.rate_budget_burst, share=0.0
        )
        self.budget_share = OwnedBudgetShare(
            self.budgets, self.clock, self.metrics, CONNECTIONS_PARTITIONS
        )
        self.rate_pauses = RatePauseChannel(
            settings.kafka_bootstrap,
            topic=settings.rate_pause_topic,
            budgets=self.budgets,
            clock=self.clock,
            metrics=self.metrics,
            clock_skew_s=settings.rate_pause_clock_skew_s,
        )
        self.scheduler = PollScheduler(
            clock=self.clock,
            reader=reader,
            tokens=tokens,
            sink=self._publish,
            budgets=self.budgets,
            policy=SchedulerPolicy(
                intervals=settings.poll_intervals(),
                backoff=settings.backoff(),
                max_in_flight=settings.max_in_flight,
                gap_slack_s=settings.gap_slack_s,
                outage_failures=settings.outage_failures,
                outage_probe_interval_s=settings.outage_probe_interval_s,
                default_retry_after_s=settings.default_retry_after_s,
                permanent_failure_retry_s=settings.permanent_failure_retry_s,
            ),
            metrics=self.metrics,
            rng=rng,
            on_rate_limited=self.rate_pauses.rate_limited,
            on_unwatched=self._park,
            viewers=self.viewers,
        )
        self.ownership = ConnectionOwnership(
            settings.kafka_bootstrap,
            topic=settings.connections_topic,
            group=settings.consumer_group,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            on_assigned=self._assigned,
            on_revoked=self._revoked,
            on_connection=self._connection,
        )
        # The last known state of each user of an owned partition who is not being polled
        # (not yet connected, needing re-authorisation): a reconnection continues from it.
        self._parked: dict[int, dict[str, WatchState]] = {}
        # Partitions assigned and still being restored (see `_assigned`): each one's restore,
        # and the latest connection record per user read meanwhile.
        self._restores: dict[int, asyncio.Task[None]] = {}
        self._restoring: dict[int, dict[str, ConnectionState | None]] = {}
        # The states of the partitions given up in a rebalance, until the assignment that
        # ends it: those assigned back are not read again from the changelog's beginning.
        self._retained: dict[int, RetainedStates] = {}
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self.presence = PresenceTail(
            settings.kafka_bootstrap,
            topic=settings.presence_topic,
            board=self.viewers,
            wall_ms=self.clock.wall_ms,
            opened=self.scheduler.poll_now,
        )

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        await ensure_topics(
            s.kafka_bootstrap,
            [
                TopicSpec(s.connections_topic, partitions=CONNECTIONS_PARTITIONS, compacted=True),
                TopicSpec(s.events_topic, partitions=s.events_partitions),
                TopicSpec(s.rate_pause_topic, partitions=1, compacted=True),
                TopicSpec(
                    s.presence_topic,
                    partitions=PRESENCE_PARTITIONS,
                    compacted=True,
                    config=PRESENCE_TOPIC_CONFIG,
                ),
            ],
        )
        partitions = await partition_count(s.kafka_bootstrap, s.connections_topic)
        await ensure_topics(
            s.kafka_bootstrap, [TopicSpec(s.state_topic, partitions=partitions, compacted=True)]
        )
        state_partitions = await partition_count(s.kafka_bootstrap, s.state_topic)
        if state_partitions < partitions:
            raise RuntimeError(
                f"{s.state_topic} has {state_partitions} partitions, fewer than the "
                f"{partitions} of {s.connections_topic}"
            )
        self.budget_share.total = partitions
        _spare_long_lived_from_collection()
        # Before joining the group: a pause in force now holds from the first poll.
        await self.rate_pauses.start()
        await self.presence.start()
        await self.ownership.start()
        self.ownership.join()
        self._tasks = [
            asyncio.create_task(self.scheduler.run(), name="watcher-scheduler"),
            asyncio.create_task(self.ownership.run(), name="watcher-ownership"),
            asyncio.create_task(self.rate_pauses.run(), name="watcher-rate-pauses"),
        ]

    async def stop(self) -> None:
        """Stop polling, commit what is pending, leave the group."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._cancel_restores(list(self._restores))
        self.scheduler.unwatch_partitions(list(self.ownership.owned))
        await self.publisher.close_all()
        await self.ownership.stop()
        await self.rate_pauses.stop()
        await self.presence.stop()

    def running(self) -> bool:
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    async def check_ready(self) -> None:
        """Raise when the watcher has stopped working or its schedule runs late."""
        for task in self._tasks:
            if task.done():
                raise RuntimeError(f"{task.get_name()} stopped")
        if not self._tasks:
            raise RuntimeError("not started")
        if not self.presence.running():
            raise RuntimeError("presence tail stopped")
        behind = self.scheduler.behind_s()
        if behind > self.settings.ready_max_lag_s:
            raise RuntimeError(f"scheduler {behind:.1f} s behind")

    # -- ownership -----------------------------------------------------------------------

    async def _assigned(self, partitions: list[int]) -> None:
        # Returns at once. No heartbeat goes out while the group's assignment callback runs,
        # and restoring a takeover's tens of thousands of users outlasts the session timeout
        # on a busy host: the group then dropped this instance, and the partitions moved
        # again. Each partition restores in the background instead, and its users are polled
        # once it has (`_restore`).
        if self._stopping:
            # An assignment completed while this instance leaves the group: opening the
            # partitions' producers now could fence their next owner's.
            return
        # The share now: the previous owners gave theirs up before the group assigned these.
        topic_partitions = self.ownership.consumer.partitions_for_topic(
            self.settings.connections_topic
        )
        self.budget_share.taken(partitions, len(topic_partitions or ()))
        for partition in partitions:
            if partition in self._restores or partition in self._parked:
                continue
            self._restoring[partition] = {}
            self._restores[partition] = asyncio.create_task(
                self._restore(partition, self._retained.get(partition)),
                name=f"watcher-restore-{partition}",
            )
        # Those not assigned back are someone else's now. Those assigned back are kept until
        # their restore has finished: the group often follows one rebalance with another at
        # once (a member's metadata changed meanwhile), which cancels the restores it began,
        # and the copy, to which this instance has written nothing since, is still good.
        self._retained = {p: r for p, r in self._retained.items() if p in partitions}
        self._partitions_changed()

    async def _restore(self, partition: int, retained: RetainedStates | None) -> None:
        """Take ``partition`` over: fence its previous owner, read its users' states back, then
        watch its connected users, each from its restored state."""
        started = self.clock.now()
        retry_s, retry_max_s = _RESTORE_RETRY_S
        while True:
            try:
                # Fence the previous owner first: its open transaction is aborted, so the
                # changelog read next holds exactly what was published.
                await self.publisher.open(partition)
                states = await restore_partition(
                    self.settings.kafka_bootstrap,
                    self.settings.state_topic,
                    partition,
                    retained=retained,
                )
                break
            except Exception:
                log.exception(
                    "partition restore failed: trying again", extra={"partition": partition}
                )
                await asyncio.sleep(retry_s)
                retry_s = min(retry_max_s, retry_s * 2)
        self._parked[partition] = states
        # The restored states live until their users' next polls: out of the full passes.
        gc.freeze()
        pending = self._restoring.get(partition, {})
        applied = 0
        # In the order read; a record for the partition that arrives while this yields joins
        # the end (a newer one for a user already applied is applied again, after it).
        while pending:
            user_id = next(iter(pending))
            self._watch_connection(partition, user_id, pending.pop(user_id))
            applied += 1
            if applied % _CONNECTIONS_PER_TURN == 0:
                await asyncio.sleep(0)
        self._restoring.pop(partition, None)
        self._restores.pop(partition, None)
        self._retained.pop(partition, None)
        log.info(
            "partition restored",
            extra={
                "partition": partition,
                "states": len(states),
                "connections": applied,
                "retained": retained is not None,
                "seconds": round(self.clock.now() - started, 3),
            },
        )

    async def _cancel_restores(self, partitions: list[int]) -> None:
        """Stop the restores of ``partitions``: nothing of them is watched once this returns,
        and their Kafka clients are closed."""
        cancelled = [self._restores.pop(p) for p in partitions if p in self._restores]
        for task in cancelled:
            task.cancel()
        for partition in partitions:
            self._restoring.pop(partition, None)
        await asyncio.gather(*cancelled, return_exceptions=True)

    def _partitions_changed(self) -> None:
        self.metrics.partitions_owned.set(len(self._parked.keys() | self._restoring.keys()))

    async def _revoked(self, partitions: list[int]) -> None:
        # The share goes first, before anything awaits: the next owner may spend it as soon
        # as this returns.
        self.budget_share.releasing(partitions)
        await self._cancel_restores(partitions)
        self.scheduler.unwatch_partitions(partitions)
        committed = await asyncio.gather(*(self.publisher.close(p) for p in partitions))
        await self._retain(
            [p for p, done in zip(partitions, committed, strict=True) if done and p in self._parked]
        )
        for partition in partitions:
            self._parked.pop(partition, None)
        self._partitions_changed()

    async def _retain(self, partitions: list[int]) -> None:
        """Keep the states of ``partitions``, all committed, with the changelog's end: if
        they come back in this rebalance, only what was written after is read."""
        if not partitions:
            return
        try:
            ends = await changelog_ends(
                self.settings.kafka_bootstrap, self.settings.state_topic, partitions
            )
        except Exception:
            # They are read from the beginning if they come back.
            log.warning("changelog ends unknown: nothing retained", exc_info=True)
            return
        for partition in partitions:
            # Every user of the partition is parked by now (unwatched), with the state last
            # committed for them.
            self._retained[partition] = RetainedStates(ends[partition], self._parked[partition])

    def _fenced(self, partition: int) -> None:
        log.warning("partition fenced: no longer watching it", extra={"partition": partition})
        self.budget_share.releasing([partition])
        restore = self._restores.pop(partition, None)
        if restore is not None:
            restore.cancel()
        self._restoring.pop(partition, None)
        self.scheduler.unwatch_partitions([partition])
        self._parked.pop(partition, None)
        self._partitions_changed()

    def _connection(self, partition: int, user_id: str, state: ConnectionState | None) -> None:
        restoring = self._restoring.get(partition)
        if restoring is not None:
            # Not watched before its state is back: nothing may be published from a state
            # older than the changelog's.
            restoring[user_id] = state
            return
        self._watch_connection(partition, user_id, state)

    def _watch_connection(
        self, partition: int, user_id: str, state: ConnectionState | None
    ) -> None:
        parked = self._parked.get(partition)
        if parked is None:
            return
        if not pollable(state):
            self.scheduler.unwatch(user_id)
            return
        assert state is not None
        user = self.scheduler.users.get(user_id)
        since_ms = _ms(state.since)
        app = state.spotify_client_id or DEFAULT_APP
        if user is None:
            user = WatchedUser(
                user_id=user_id,
                partition=partition,
                spotify_app=app,
                connected_since_ms=since_ms,
                state=parked.pop(user_id) if user_id in parked else WatchState(user_id),
            )
        else:
            user = WatchedUser(user_id, partition, app, since_ms, user.state)
        self.scheduler.watch(user)

    def _park(self, user: WatchedUser) -> None:
        parked = self._parked.get(user.partition)
        if parked is not None:
            parked[user.user_id] = user.state

    def _publish(self, user: WatchedUser, observation: Observation) -> bool:
        return self.publisher.publish(user.partition, user.user_id, observation)
