"""The poll scheduler: one loop, one timer heap, thousands of users.

Each watched user has one timer in the heap. The loop pops the users that are due, queues
them behind their Spotify app's rate budget, and starts a short-lived poll for each as long
as fewer than ``max_in_flight`` requests are out and the budget allows; then it sleeps until
the next timer, the budget's next token, or a wake-up (a poll finished, a user came or went).
No task per user sleeps in a loop.

A poll reads the player (and recently-played after a gap), folds the snapshot into the
user's timeline, hands the events and new state (even without events) to the publisher,
and sets the user's next timer from the adaptive schedule. Failures are sorted by type:

- 429: the whole app's budget pauses for Retry-After, in every instance (``budget_share``
  passes it on); the user goes first when it resumes;
- 401: the cached access token is dropped and the user is polled again at once, once;
- 5xx, timeouts, tokens unavailable: this user backs off, with jitter, unless the fault is
  shared: a few users failing in a row open the app's (or tokens') breaker, and then the
  users who need the dependency wait together while one probe poll a second tests it; the
  first success polls them all again at once (a user with a cached access token does not
  need tokens);
- other refusals from Spotify: this user is tried again only rarely;
- not connected or needing re-authorisation: the user is no longer polled until its
  connection state changes.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from backbeat.authn.spotify_access import NeedsReauth, NotConnected, TokensTryLater
from backbeat.spotify import (
    AccessTokenRejected,
    PermanentSpotifyError,
    RateLimited,
    SpotifyError,
    TransientSpotifyError,
)
from backbeat.watcher.adapters.clock import Clock
from backbeat.watcher.adapters.spotify_reader import PlaybackReader
from backbeat.watcher.domain.attention import ViewerBoard
from backbeat.watcher.domain.backoff import Backoff
from backbeat.watcher.domain.breaker import OutageBreaker
from backbeat.watcher.domain.rate_budget import RateBudgets
from backbeat.watcher.domain.schedule import (
    PollIntervals,
    after_first_look_delay,
    first_poll_delay,
    next_poll_delay,
    viewed_first,
)
from backbeat.watcher.domain.snapshot import RecentPlay
from backbeat.watcher.domain.timeline import (
    Observation,
    WatchState,
    catch_up_cursor,
    needs_catch_up,
    observe,
)
from backbeat.watcher.domain.timers import TimerHeap
from backbeat.watcher.service.access_tokens import AccessTokenSource
from backbeat.watcher.workers.metrics import WatcherMetrics

log = logging.getLogger(__name__)

# Where users of a connection that names no Spotify app draw from.
DEFAULT_APP = "default"

# Publishes an observation's events and state; False when the user's partition is not ours.
EventSink = Callable[["WatchedUser", Observation], bool]


@dataclass(slots=True)
class WatchedUser:
    user_id: str
    partition: int
    spotify_app: str
    connected_since_ms: int
    state: WatchState
    failures: int = 0
    token_retried: bool = False


@dataclass(frozen=True, slots=True)
class SchedulerPolicy:
    intervals: PollIntervals = field(default_factory=PollIntervals)
    backoff: Backoff = field(default_factory=Backoff)
    max_in_flight: int = 64
    # How much later than the schedule's longest interval an observation may come (a slow
    # answer, a busy budget) before the time since the previous one counts as a gap.
    gap_slack_s: float = 2.0
    # Failures in a row that open a dependency's breaker, and how often it is probed then.
    outage_failures: int = 3
    outage_probe_interval_s: float = 1.0
    default_retry_after_s: float = 5.0
    permanent_failure_retry_s: float = 900.0


class PollScheduler:
    def __init__(
        self,
        *,
        clock: Clock,
        reader: PlaybackReader,
        tokens: AccessTokenSource,
        sink: EventSink,
        budgets: RateBudgets,
        policy: SchedulerPolicy,
        metrics: WatcherMetrics,
        rng: random.Random | None = None,
        on_rate_limited: Callable[[str, float], None] | None = None,
        on_unwatched: Callable[[WatchedUser], None] | None = None,
        viewers: ViewerBoard | None = None,
    ) -> None:
        # Told of each 429 (app, seconds to wait), so the other instances pause too.
        self._on_rate_limited = on_rate_limited
        self._on_unwatched = on_unwatched
        # Who has a live stream open (None: nobody is ever taken for viewed).
        self._viewers = viewers
        self._clock = clock
        self._reader = reader
        self._tokens = tokens
        self._sink = sink
        self._budgets = budgets
        self._policy = policy
        self._metrics = metrics
        self._rng = rng or random.Random()
        self._users: dict[str, WatchedUser] = {}
        self._timers: TimerHeap[str] = TimerHeap()
        # Due users waiting for their app's budget, per app, in due order.
        self._ready: dict[str, deque[tuple[str, float]]] = {}
        self._polling: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self.polls_started = 0
        # Shared health: each Spotify app's Web API, and the tokens service. The users who
        # wait for a dependency that is down, in arrival order (see `OutageBreaker`).
        self._spotify_health: dict[str, OutageBreaker] = {}
        self._tokens_health = self._new_breaker()
        # (Dicts as ordered sets of user ids.)
        self._held_for_spotify: dict[str, dict[str, None]] = {}
        self._held_for_tokens: dict[str, None] = {}
        # Users whose poll in flight is a probe, with the breaker it tests.
        self._probes: dict[str, OutageBreaker] = {}

    # -- who is watched ------------------------------------------------------------------

    @property
    def users(self) -> dict[str, WatchedUser]:
        return self._users

    def watch(self, user: WatchedUser) -> None:
        """Start watching ``user`` (or update what is known of a watched one)."""
        existing = self._users.get(user.user_id)
        if existing is not None:
            existing.partition = user.partition
            existing.spotify_app = user.spotify_app
            existing.connected_since_ms = user.connected_since_ms
            return
        self._users[user.user_id] = user
        self._timers.schedule(user.user_id, self._clock.now() + self._first_poll_delay(user))
        self._metrics.users_owned.set(len(self._users))
        self._wake.set()

    def _first_poll_delay(self, user: WatchedUser) -> float:
        snapshot = user.state.snapshot
        if snapshot is not None and snapshot.observed_at_ms < user.connected_since_ms:
            # Observed under an earlier connection: the schedule starts afresh.
            snapshot = None
        return first_poll_delay(
            self._policy.intervals,
            snapshot,
            user.state.last_active_at_ms,
            self._clock.wall_ms(),
            self._rng.random(),
            viewed=self.viewed(user.user_id),
        )

    def unwatch(self, user_id: str) -> None:
        """Stop watching; a poll in flight finishes but its outcome is dropped."""
        user = self._users.pop(user_id, None)
        if user is None:
            return
        if self._on_unwatched is not None:
            self._on_unwatched(user)
        self._timers.cancel(user_id)
        self._held_for_tokens.pop(user_id, None)
        self._held_for_spotify.get(user.spotify_app, {}).pop(user_id, None)
        self._tokens.invalidate(user_id)
        self._metrics.users_owned.set(len(self._users))

    def viewed(self, user_id: str) -> bool:
        """Whether someone has a live stream of the user open."""
        return self._viewers is not None and self._viewers.viewed(user_id, self._clock.wall_ms())

    def poll_now(self, user_id: str) -> None:
        """Someone just opened the user's page: poll at once rather than at the next timer (a
        poll in flight already answers; the next one comes at the viewed interval)."""
        if user_id in self._users and user_id not in self._polling:
            self._timers.schedule(user_id, self._clock.now())
            self._wake.set()

    def unwatch_partitions(self, partitions: Iterable[int]) -> None:
        gone = set(partitions)
        for user in [u for u in self._users.values() if u.partition in gone]:
            self.unwatch(user.user_id)

    # -- shared health -------------------------------------------------------------------

    def _new_breaker(self) -> OutageBreaker:
        return OutageBreaker(
            failure_threshold=self._policy.outage_failures,
            probe_interval_s=self._policy.outage_probe_interval_s,
        )

    def spotify_health(self, app: str) -> OutageBreaker:
        health = self._spotify_health.get(app)
        if health is None:
            health = self._spotify_health[app] = self._new_breaker()
        return health

    @property
    def tokens_health(self) -> OutageBreaker:
        return self._tokens_health

    def held(self) -> int:
        """Users waiting for a dependency that is down."""
        return sum(len(q) for q in self._held_for_spotify.values()) + len(self._held_for_tokens)

    def _release(self, held: dict[str, None]) -> None:
        """The dependency is back: everyone who waited for it is polled again now."""
        now = self._clock.now()
        for user_id in list(held):
            user = self._users.get(user_id)
            if user is not None:
                user.failures = 0
                self._timers.schedule(user_id, now)
        held.clear()
        self._metrics.held_users.set(self.held())
        self._wake.set()

    def _hold(self, held: dict[str, None], user: WatchedUser) -> None:
        if self._users.get(user.user_id) is user:
            self._timers.cancel(user.user_id)
            held[user.user_id] = None
            self._metrics.held_users.set(self.held())

    def _failed(self, health: OutageBreaker, dependency: str, user: WatchedUser) -> bool:
        """Counts a failure against ``health``; True when the dependency is down."""
        was_open = health.is_open
        health.failed(self._clock.now(), user.user_id)
        self._probes.pop(user.user_id, None)
        if health.is_open and not was_open:
            self._metrics.outages.labels(dependency).inc()
            log.warning(
                "dependency down: its users wait for it together",
                extra={"dependency": dependency, "spotify_app": user.spotify_app},
            )
        return health.is_open

    def _probe(self, now: float) -> float | None:
        """Start the probes that are due; returns when the next one is (None: none waits)."""
        wake_at: float | None = None
        checks = [(self._tokens_health, self._held_for_tokens)] + [
            (self.spotify_health(app), held) for app, held in self._held_for_spotify.items()
        ]
        for health, held in checks:
            if not held or not health.is_open:
                continue
            if health.probe_due(now):
                user_id = next(iter(held))
                del held[user_id]
                user = self._users.get(user_id)
                if user is None:
                    continue
                health.start_probe()
                self._probes[user.user_id] = health
                # First in line for its app's budget.
                self._ready.setdefault(user.spotify_app, deque()).appendleft((user.user_id, now))
            elif not health.probing:
                wake_at = health.probe_at if wake_at is None else min(wake_at, health.probe_at)
        self._metrics.held_users.set(self.held())
        return wake_at

    def behind_s(self) -> float:
        """How long the most overdue poll has been waiting."""
        now = self._clock.now()
        oldest = [queue[0][1] for queue in self._ready.values() if queue]
        next_due = self._timers.next_due()
        if next_due is not None:
            oldest.append(next_due)
        return max(0.0, now - min(oldest)) if oldest else 0.0

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while True:
                self._wake.clear()
                now = self._clock.now()
                for user_id, due in self._timers.pop_due(now):
                    user = self._users.get(user_id)
                    if user is None:
                        continue
                    self._ready.setdefault(user.spotify_app, deque()).append((user_id, due))
                probe_at = self._probe(now)
                wake_at = self._dispatch(now)
                if probe_at is not None:
                    wake_at = probe_at if wake_at is None else min(wake_at, probe_at)
                next_due = self._timers.next_due()
                if next_due is not None:
                    wake_at = next_due if wake_at is None else min(wake_at, next_due)
                await self._clock.wait(wake_at, self._wake, idle=not self._polling)
        finally:
            for task in list(self._polling.values()):
                task.cancel()
            await asyncio.gather(*list(self._polling.values()), return_exceptions=True)

    def _dispatch(self, now: float) -> float | None:
        """Start what the budgets and the in-flight bound allow; returns when a budget that
        holds waiting users frees up (None if none is waiting on a budget)."""
        budget_wake: float | None = None
        for app, queue in self._ready.items():
            budget = self._budgets.of(app)
            health = self.spotify_health(app)
            if health.is_open:
                # Spotify is down for this app: only its probe goes out; the others wait.
                held = self._held_for_spotify.setdefault(app, {})
                kept = [entry for entry in queue if entry[0] in self._probes]
                for user_id, _ in queue:
                    if user_id not in self._probes and user_id in self._users:
                        self._hold(held, self._users[user_id])
                queue.clear()
                queue.extend(kept)
            if self._viewers is not None and len(queue) > 1 and len(self._viewers):
                ordered = viewed_first(queue, self.viewed)
                queue.clear()
                queue.extend(ordered)
            # Users whose previous poll has set their next timer but whose task has not quite
            # ended: they stay queued for the next round (woken when that task ends), rather
            # than losing the timer and never being polled again.
            still_polling: list[tuple[str, float]] = []
            while queue and len(self._polling) < self._policy.max_in_flight:
                user_id, due = queue[0]
                if user_id not in self._users:
                    queue.popleft()
                    continue
                if user_id in self._polling:
                    still_polling.append(queue.popleft())
                    continue
                if not budget.try_take(now):
                    ready_at = budget.ready_at(now)
                    budget_wake = ready_at if budget_wake is None else min(budget_wake, ready_at)
                    break
                queue.popleft()
                self._start_poll(self._users[user_id], due, now)
            queue.extendleft(reversed(still_polling))
        return budget_wake

    def _start_poll(self, user: WatchedUser, due: float, now: float) -> None:
        self._metrics.schedule_lag.observe(max(0.0, now - due))
        self.polls_started += 1
        task = asyncio.create_task(self._poll(user, due), name=f"watcher-poll-{user.user_id}")
        self._polling[user.user_id] = task
        self._metrics.in_flight.set(len(self._polling))

        def done(_: asyncio.Task[None]) -> None:
            self._polling.pop(user.user_id, None)
            probed = self._probes.pop(user.user_id, None)
            if probed is not None:
                probed.probe_abandoned(self._clock.now())
            self._metrics.in_flight.set(len(self._polling))
            self._wake.set()

        task.add_done_callback(done)

    # -- one poll ------------------------------------------------------------------------

    def _reschedule(self, user: WatchedUser, delay_s: float) -> None:
        if self._users.get(user.user_id) is user:
            self._timers.schedule(user.user_id, self._clock.now() + max(0.0, delay_s))

    def _back_off(self, user: WatchedUser, at_least_s: float = 0.0) -> None:
        user.failures += 1
        delay = self._policy.backoff.delay_s(user.failures, self._rng.random())
        self._reschedule(user, max(delay, at_least_s))

    async def _poll(self, user: WatchedUser, due: float) -> None:
        outcome = "ok"
        try:
            observation = await self._observe(user)
        except RateLimited as limited:
            outcome = "rate_limited"
            self._metrics.rate_limited.inc()
            self._spotify_answered(user)  # up, and asking for less: the budget's concern
            wait = limited.retry_after
            if wait is None:
                wait = self._policy.default_retry_after_s
            now = self._clock.now()
            budget = self._budgets.of(user.spotify_app)
            budget.pause(now, wait)
            log.warning("rate limited", extra={"spotify_app": user.spotify_app, "wait_s": wait})
            if self._on_rate_limited is not None:
                self._on_rate_limited(user.spotify_app, wait)
            # Not the user's fault: first in line when the budget resumes.
            self._reschedule(user, budget.paused_until - now)
        except AccessTokenRejected:
            outcome = "token_rejected"
            self._spotify_answered(user)
            self._tokens.invalidate(user.user_id)
            if user.token_retried:
                self._back_off(user)
            else:
                user.token_retried = True
                self._reschedule(user, 0.0)
        except TransientSpotifyError as error:
            outcome = "transient"
            log.info("poll failed", extra={"user_id": user.user_id, "error": repr(error)})
            if self._failed(self.spotify_health(user.spotify_app), "spotify", user):
                self._hold(self._held_for_spotify.setdefault(user.spotify_app, {}), user)
            else:
                self._back_off(user)
        except (PermanentSpotifyError, SpotifyError) as error:
            outcome = "permanent"
            self._spotify_answered(user)
            log.warning("poll refused", extra={"user_id": user.user_id, "error": repr(error)})
            self._reschedule(user, self._policy.permanent_failure_retry_s)
        except (NotConnected, NeedsReauth) as refused:
            # Skipped until a new connection state for the user arrives.
            outcome = "not_connected" if isinstance(refused, NotConnected) else "needs_reauth"
            log.info("user not pollable", extra={"user_id": user.user_id, "reason": outcome})
            self.unwatch(user.user_id)
        except TokensTryLater as later:
            outcome = "tokens_unavailable"
            if self._failed(self._tokens_health, "tokens", user):
                self._hold(self._held_for_tokens, user)
            else:
                self._back_off(user, later.retry_after_s or 0.0)
        except Exception:  # a fault of ours must not drop the user for good
            outcome = "error"
            log.exception("poll failed unexpectedly", extra={"user_id": user.user_id})
            self._back_off(user)
        else:
            self._accept(user, observation)
        finally:
            self._metrics.polls.labels(outcome).inc()

    async def _observe(self, user: WatchedUser) -> Observation:
        token = await self._tokens.access_token(user.user_id)
        if self._probes.get(user.user_id) is self._tokens_health:
            # A held user has no cached token: this one came from tokens, which is back.
            self._probes.pop(user.user_id)
            if self._tokens_health.succeeded():
                log.info("tokens reachable again")
                self._release(self._held_for_tokens)
        snapshot = await self._reader.playback(token)
        self._spotify_answered(user)
        recent: list[RecentPlay] | None = None
        if needs_catch_up(
            user.state,
            snapshot,
            user.connected_since_ms,
            self._policy.intervals,
            int(self._policy.gap_slack_s * 1000),
        ):
            self._metrics.catch_ups.inc()
            # A second call for this poll: the app's budget pays for it.
            self._budgets.of(user.spotify_app).charge(self._clock.now())
            cursor = catch_up_cursor(user.state, user.connected_since_ms)
            recent = await self._reader.plays_after(token, cursor)
        return observe(user.state, snapshot, recent)

    def _spotify_answered(self, user: WatchedUser) -> None:
        if self._probes.get(user.user_id) is self.spotify_health(user.spotify_app):
            self._probes.pop(user.user_id)
        if self.spotify_health(user.spotify_app).succeeded():
            log.info("spotify reachable again", extra={"spotify_app": user.spotify_app})
            self._release(self._held_for_spotify.get(user.spotify_app, {}))

    def _accept(self, user: WatchedUser, observation: Observation) -> None:
        if self._users.get(user.user_id) is not user:
            return  # unwatched while the poll was out: the new owner starts from the changelog
        # Every observation is handed on, with or without events: the state written is what a
        # restart or a new owner resumes from, at most one poll old.
        if not self._sink(user, observation):
            self.unwatch(user.user_id)
            return
        first_look = user.state.snapshot is None
        user.state = observation.state
        user.failures = 0
        user.token_retried = False
        snapshot = observation.state.snapshot
        assert snapshot is not None
        delay = (after_first_look_delay if first_look else next_poll_delay)(
            self._policy.intervals,
            snapshot,
            observation.state.last_active_at_ms,
            self._rng.random(),
            viewed=self.viewed(user.user_id),
        )
        self._reschedule(user, delay)
