"""Play fidelity through faults, whole stack running: N users listen on the Spotify fake's
short-track catalogue for M minutes of real time while the stack goes through a 429 storm, a
30 s 5xx burst and a SIGKILL and restart (same port) of the watcher, playback, tokens and the
gateway; the plays each user's history shows through the gateway are then compared with what
the fake says each user really heard.

Listeners are scripted, one seeded script per user (`--seed`): a queue of tracks from a pool
of the user's own (no two users share a track, so a play on the wrong user shows), each track
run out, skipped clearly short of the play rule or clearly past it, paused and resumed, or
seeked; the scripts stay clear of what README.md ("What counts as a play") lists as what
Spotify cannot tell us (a skip within a poll of the rule, a skipped play under 30 s, a change
whose aftermath alone is short of the rule), so every real play is one the stack can prove,
whenever the faults strike. Every listener plays without a break, from the start to about
M minutes, then stops; the bench waits for the last plays to reach the history.

Ground truth: the fake's per-user record, the plays that reached playback's rule (half the
track or four minutes). A recorded play matches a real one of the same track whose start is
within START_TOLERANCE_MS of it (or, failing that, whose time it overlaps, give or take the
poll that noticed it: a play recovered over a gap is dated from Spotify's record). Baseline:
the same comparison over the plays that ended before the first fault (the first quarter of
the run, after the same sign-up and warm-up), same run, same users.

Recovery time of each fault: from the fault's end (or the restart) to the service ready and
to the first event published on the run's playback.events after it; for playback also to the
moment it has applied an event published after its restart, and for the gateway to its first
200 to a user's request.

    python bench/fidelity_soak.py [--users 50] [--minutes 8] [--seed 1]

Uses BACKBEAT_KAFKA_BOOTSTRAP and the *_test databases (`make infra` starts both); prints
progress on stderr and one JSON line last; loopback only; about M + 2 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backbeat.events.cloudevents import from_kafka
from backbeat.events.playback import PlaybackEvent, PlaybackEventData, PlaybackEventKind
from backbeat.playback.domain.play_rule import PlayRule
from backbeat.runtime.testing import ServiceProcess, percentile
from backbeat.spotify_fake.domain.catalogue import Catalogue, generate_catalogue
from backbeat.spotify_fake.domain.listener import devices_for
from backbeat.spotify_fake.domain.player import Play, Player
from backbeat.spotify_fake.domain.script import ScriptedListener, ScriptStep
from backbeat.watcher.consumers.ownership import partition_count
from bench.stack_sse_latency import set_up_users
from tests.conftest import test_database_url
from tests.e2e.full_stack import FullStack, full_stack
from tests.gateway.stack import PASSWORD, Account
from tests.reliability.scenarios import POLL_MS, undecidable

KAFKA = os.environ.get("BACKBEAT_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
S = 1_000
RULE = PlayRule()
START_TOLERANCE_MS = 10_000
# A recorded play over a gap is dated from Spotify's record: it may begin up to a poll after
# the real one and end up to a poll after it.
OVERLAP_SLACK_MS = 7_000
GATEWAY = {
    "ADDRESS_RATE_PER_S": "100000",
    "ADDRESS_BURST": "100000",
    "PASSWORD_RATE_PER_S": "100000",
    "PASSWORD_BURST": "100000",
    "LOG_LEVEL": "WARNING",
}
STORM_S = 20
STORM_RETRY_AFTER_S = 10
BURST_S = 30
RECOVERY_TIMEOUT_S = 120.0


def progress(message: str) -> None:
    print(f"[fidelity_soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def wall_ms() -> int:
    """The fake runs on the real clock: its times are these."""
    return int(time.time() * 1000)


# --- scripts -----------------------------------------------------------------------------------


@dataclass
class Plan:
    steps: list[ScriptStep]
    ends_at_ms: int  # after the script begins: the last track has run out
    behaviours: list[str]


def plan_script(rng: random.Random, pool: list[str], catalogue: Catalogue, length_ms: int) -> Plan:
    """One listener: tracks of ``pool`` back to back for about ``length_ms``, each run out,
    skipped clearly short of or past the rule, paused and resumed, or seeked so that what
    follows the seek alone passes the rule; the first track runs out (it may begin before the
    watcher looks at an idle player)."""
    steps: list[ScriptStep] = []
    behaviours: list[str] = []
    t = rng.randint(0, 10) * S
    first = t
    queue: list[str] = []
    for track in pool:
        if t >= first + length_ms:
            break
        queue.append(track)
        d = catalogue.duration_ms(track)
        req = RULE.required_ms(d)
        # The first track runs out, and so does the last (a skip would start another).
        last = t + d >= first + length_ms
        roll = rng.random() if queue[1:] and not last else 0.0
        kind = "runs_out"
        if 0.5 <= roll < 0.65 and req - 3 * S >= 32 * S:
            kind = "skip_short"
            listened = rng.randint(32 * S, req - 3 * S)
            steps.append(ScriptStep(t + listened, "next"))
            t += listened
        elif 0.65 <= roll < 0.8 and req + 9 * S <= d - 4 * S:
            kind = "skip_past"
            listened = rng.randint(req + 9 * S, min(req + 25 * S, d - 4 * S))
            steps.append(ScriptStep(t + listened, "next"))
            t += listened
        elif 0.8 <= roll < 0.9:
            kind = "pause"
            at = t + rng.randint(5 * S, d - 10 * S)
            paused = rng.randint(5, 30) * S
            steps += [ScriptStep(at, "pause"), ScriptStep(at + paused, "resume")]
            t += d + paused
        elif 0.9 <= roll and d - req - 15 * S >= 5 * S:
            kind = "seek"
            heard = rng.randint(5 * S, d - req - 15 * S)
            position = rng.randint(0, d - req - 10 * S)
            steps.append(ScriptStep(t + heard, "seek", position_ms=position))
            t += heard + (d - position)
        else:
            t += d
        behaviours.append(kind)
    steps.insert(0, ScriptStep(first, "play", track_ids=tuple(queue)))
    steps.append(ScriptStep(t + 1 * S, "stop"))
    return Plan(steps, t, behaviours)


def simulate(plan: Plan, catalogue: Catalogue, seed: int, user_id: str) -> list[Play]:
    """The plays the fake will make of ``plan``, on a local copy of its player."""
    player = Player(catalogue, devices_for(seed, user_id), ad_every_tracks=None)
    ScriptedListener(player, plan.steps, 0).advance_to(plan.ends_at_ms + 5 * S)
    return player.ground_truth(plan.ends_at_ms + 5 * S)


# --- what the stack published --------------------------------------------------------------------


@dataclass
class EventLog:
    """Every event on the run's playback.events, with when the bench read it."""

    topic: str
    events: list[tuple[float, PlaybackEvent]] = field(default_factory=list)

    async def follow(self) -> None:
        await partition_count(KAFKA, self.topic, 120)
        # Subscribed (without a group: every partition) rather than assigned, so that the
        # consumer keeps the topic's metadata up to date.
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=KAFKA,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            group_id=None,
        )
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                read = time.monotonic()
                for records in batches.values():
                    for r in records:
                        event = from_kafka(r.key, r.value, r.headers, PlaybackEventData)
                        self.events.append((read, event))
        except Exception as error:
            progress(f"reading {self.topic} failed: {error!r}")
            raise
        finally:
            await consumer.stop()

    def first_after(self, moment: float) -> PlaybackEvent | None:
        for read, event in self.events:
            if read > moment:
                return event
        return None

    def last_read(self) -> float:
        return self.events[-1][0] if self.events else 0.0


async def until(check: Callable[[], Any], timeout_s: float, every_s: float = 0.2) -> float | None:
    """Seconds (monotonic) at which ``check()`` first held, or None at the deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.monotonic()
        await asyncio.sleep(every_s)
    return None


# --- faults ----------------------------------------------------------------------------------


@dataclass
class Fault:
    name: str
    planned_s: float
    started_wall_ms: int = 0
    ended_wall_ms: int = 0  # the fault's end, or the restart
    recovered_wall_ms: int = 0
    figures: dict[str, float | None] = field(default_factory=dict)

    def as_dict(self, script_start_ms: int) -> dict[str, Any]:
        return {
            "fault": self.name,
            "at_s": round((self.started_wall_ms - script_start_ms) / 1000, 1),
            **{k: None if v is None else round(v, 2) for k, v in self.figures.items()},
        }


class Faults:
    def __init__(
        self, stack: FullStack, log: EventLog, accounts: list[Account], players: list[str]
    ) -> None:
        self.stack = stack
        self.log = log
        self.accounts = accounts
        self.players = players
        self.processes = {p.module.rsplit(".", 1)[1]: p for p in stack.processes}

    async def fresh_token(self, account: Account, via: str) -> str:
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.post(
                f"{via}/api/auth/login", json={"email": account.email, "password": PASSWORD}
            )
            answer.raise_for_status()
            return str(answer.json()["access_token"])

    async def first_event(self, fault: Fault, moment: float, key: str = "first_event_s") -> None:
        at = await until(lambda: self.log.first_after(moment) is not None, RECOVERY_TIMEOUT_S)
        fault.figures[key] = None if at is None else at - moment

    async def spotify(self, fault: Fault, body: dict[str, Any], lasts_s: float) -> None:
        async with httpx.AsyncClient(base_url=self.stack.fake.url, timeout=30) as http:
            (await http.post("/_control/faults", json=body)).raise_for_status()
        fault.started_wall_ms = wall_ms()
        await asyncio.sleep(lasts_s)
        fault.ended_wall_ms = wall_ms()
        await self.first_event(fault, time.monotonic())

    async def storm(self, fault: Fault) -> None:
        body = {
            "endpoint": "web_api",
            "kind": "rate_limit",
            "retry_after_s": STORM_RETRY_AFTER_S,
            "duration_ms": STORM_S * S,
        }
        await self.spotify(fault, body, STORM_S)

    async def burst(self, fault: Fault) -> None:
        body = {"endpoint": "web_api", "kind": "server_error", "duration_ms": BURST_S * S}
        await self.spotify(fault, body, BURST_S)

    async def kill(self, fault: Fault, service: str) -> None:
        process: ServiceProcess = self.processes[service]
        probe = self.accounts[0]
        token = ""
        if service == "gateway":
            token = await self.fresh_token(probe, self.stack.gateway.url)
        fault.started_wall_ms = wall_ms()
        process.kill()
        restarted = time.monotonic()
        fault.ended_wall_ms = wall_ms()
        starting = asyncio.create_task(asyncio.to_thread(process.start, 90))
        watching: list[asyncio.Task[None]] = [
            asyncio.create_task(self.first_event(fault, restarted))
        ]
        if service == "gateway":
            watching.append(asyncio.create_task(self.first_200(fault, restarted, token)))
        await starting
        fault.figures["ready_s"] = time.monotonic() - restarted
        if service == "playback":
            watching.append(asyncio.create_task(self.applied(fault, restarted, process)))
        await asyncio.gather(*watching)

    async def first_200(self, fault: Fault, restarted: float, token: str) -> None:
        async with httpx.AsyncClient(base_url=self.stack.gateway.url, timeout=2) as http:

            async def answered() -> bool:
                try:
                    history = await http.get(
                        "/api/playback/history", headers={"Authorization": f"Bearer {token}"}
                    )
                except httpx.HTTPError:
                    return False
                return history.status_code == 200

            at = await until(answered, RECOVERY_TIMEOUT_S, 0.1)
        fault.figures["first_200_s"] = None if at is None else at - restarted

    async def applied(self, fault: Fault, restarted: float, process: ServiceProcess) -> None:
        """Until playback shows a user's state at or past the first event published after it
        was ready (whoever's it is: one user's next event may be minutes away)."""
        ready = time.monotonic()
        if await until(lambda: self.log.first_after(ready) is not None, RECOVERY_TIMEOUT_S) is None:
            fault.figures["applied_s"] = None
            return
        event = self.log.first_after(ready)
        assert event is not None
        account = next(a for a in self.accounts if a.user_id == event.subject)
        token = await self.fresh_token(account, self.stack.gateway.url)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=process.url, timeout=2) as http:

            async def caught_up() -> bool:
                try:
                    now = await http.get("/api/playback/now", headers=headers)
                except httpx.HTTPError:
                    return False
                if now.status_code == 204:
                    return not event.data.is_playing or event.data.track is None
                return now.status_code == 200 and now.json()["sequence"] >= event.data.sequence

            at = await until(caught_up, RECOVERY_TIMEOUT_S, 0.1)
        fault.figures["applied_s"] = None if at is None else at - restarted

    async def run(self, fault: Fault, script_start: float) -> None:
        await asyncio.sleep(max(0.0, script_start + fault.planned_s - time.monotonic()))
        progress(f"fault: {fault.name}")
        match fault.name:
            case "429_storm":
                await self.storm(fault)
            case "5xx_burst":
                await self.burst(fault)
            case name:
                await self.kill(fault, name.removeprefix("kill_"))
        fault.recovered_wall_ms = wall_ms()
        progress(f"fault {fault.name} recovered: {fault.figures}")


def schedule(minutes: float, rng: random.Random) -> tuple[float, list[Fault]]:
    """The first fault a quarter into the run (the baseline is before it), the last a minute
    before its end, the others evenly between, each moved a little by the seed."""
    total = minutes * 60
    first, last = total * 0.25, max(total * 0.25, total - 75)
    names = ["429_storm", "5xx_burst", "kill_watcher", "kill_playback", "kill_tokens"]
    names.append("kill_gateway")
    gap = (last - first) / (len(names) - 1)
    jitter = min(8.0, gap / 4)
    faults = [
        Fault(name, first + n * gap + (rng.uniform(-jitter, jitter) if 0 < n else 0))
        for n, name in enumerate(names)
    ]
    return first, faults


# --- comparison --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recorded:
    track_id: str
    started_ms: int
    ended_ms: int
    listened_ms: int


def ms(value: str) -> int:
    return int(datetime.fromisoformat(value).timestamp() * 1000)


@dataclass
class Tally:
    ground_truth_plays: int = 0
    recalled: int = 0
    missing: int = 0
    false_plays: int = 0
    duplicates: int = 0
    wrong_user: int = 0
    matched_by_overlap: int = 0
    start_offsets_ms: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        offsets = [float(abs(o)) for o in self.start_offsets_ms]
        return {
            "ground_truth_plays": self.ground_truth_plays,
            "recalled": self.recalled,
            "missing": self.missing,
            "false_plays": self.false_plays,
            "duplicates": self.duplicates,
            "wrong_user": self.wrong_user,
            "recall": round(self.recalled / max(self.ground_truth_plays, 1), 4),
            "matched_by_overlap": self.matched_by_overlap,
            "start_offset_p50_s": round(percentile(offsets, 0.5) / 1000, 1),
            "start_offset_max_s": round(max(offsets, default=0) / 1000, 1),
        }


def near(play_from: int, play_to: int, faults: list[Fault], start_ms: int) -> str:
    """The fault nearest to a moment, and where the moment lay relative to it."""
    best: tuple[float, str] | None = None
    for fault in faults:
        if not fault.started_wall_ms:
            continue
        f0, f1 = fault.started_wall_ms, fault.recovered_wall_ms or fault.ended_wall_ms
        distance = max(0, f0 - play_to, play_from - f1)
        text = (
            f"{fault.name} (at {(f0 - start_ms) / 1000:.0f} s, recovered at "
            f"{(f1 - start_ms) / 1000:.0f} s; {distance / 1000:.0f} s away)"
        )
        if best is None or distance < best[0]:
            best = (distance, text)
    return best[1] if best else "no fault"


def compare(
    truth: dict[str, list[Play]],
    recorded: dict[str, list[Recorded]],
    pools: dict[str, set[str]],
    window: tuple[int, int],
    split_ms: int,
    faults: list[Fault],
) -> tuple[Tally, Tally, list[dict[str, Any]]]:
    """(before the first fault, from it on, what went wrong)"""
    before, after = Tally(), Tally()
    problems: list[dict[str, Any]] = []
    start_ms = window[0]

    def tally(moment: int) -> Tally:
        return before if moment < split_ms else after

    def rel(moment: int | None) -> float | None:
        return None if moment is None else round((moment - start_ms) / 1000, 1)

    def real_json(play: Play) -> dict[str, Any]:
        return {
            "track": play.item_id,
            "started_s": rel(play.started_at_ms),
            "ended_s": rel(play.ended_at_ms),
            "listened_ms": play.listened_ms,
            "duration_ms": play.duration_ms,
            "required_ms": RULE.required_ms(play.duration_ms),
            "end_reason": play.end_reason,
            "undecidable": undecidable(play),
        }

    def recorded_json(play: Recorded) -> dict[str, Any]:
        return {
            "track": play.track_id,
            "started_s": rel(play.started_ms),
            "ended_s": rel(play.ended_ms),
            "listened_ms": play.listened_ms,
        }

    owner = {track: user for user, pool in pools.items() for track in pool}
    for user_id, real in truth.items():
        mine = sorted(recorded.get(user_id, []), key=lambda r: r.started_ms)
        matched: dict[int, int] = {}  # real index -> recorded index
        for r_index, play in enumerate(mine):
            same = [
                i
                for i, p in enumerate(real)
                if p.item_id == play.track_id and p.ended_at_ms is not None
            ]
            close = [i for i in same if abs(real[i].started_at_ms - play.started_ms) <= 10_000]
            overlapping = [
                i
                for i in same
                if play.ended_ms >= real[i].started_at_ms - 1_000
                and play.started_ms <= (real[i].ended_at_ms or 0) + OVERLAP_SLACK_MS
            ]
            candidates = close or overlapping
            free = [i for i in candidates if i not in matched]
            moment = play.ended_ms
            if free:
                i = min(free, key=lambda i: abs(real[i].started_at_ms - play.started_ms))
                matched[i] = r_index
                p = real[i]
                assert p.ended_at_ms is not None
                moment = p.ended_at_ms
                if not RULE.is_play(p.listened_ms, p.duration_ms):
                    tally(moment).false_plays += 1
                    problems.append(
                        {
                            "problem": "false_play",
                            "user": user_id,
                            "why": "heard less than the rule",
                            "recorded": recorded_json(play),
                            "real": real_json(p),
                            "near": near(p.started_at_ms, p.ended_at_ms, faults, start_ms),
                        }
                    )
                    continue
                if not close:
                    tally(moment).matched_by_overlap += 1
                tally(moment).start_offsets_ms.append(play.started_ms - p.started_at_ms)
            elif candidates:
                tally(moment).duplicates += 1
                problems.append(
                    {
                        "problem": "duplicate",
                        "user": user_id,
                        "recorded": recorded_json(play),
                        "real": real_json(real[candidates[0]]),
                        "near": near(play.started_ms, play.ended_ms, faults, start_ms),
                    }
                )
            elif owner.get(play.track_id, user_id) != user_id:
                tally(moment).wrong_user += 1
                problems.append(
                    {
                        "problem": "wrong_user",
                        "user": user_id,
                        "owner": owner[play.track_id],
                        "recorded": recorded_json(play),
                    }
                )
            else:
                tally(moment).false_plays += 1
                problems.append(
                    {
                        "problem": "false_play",
                        "user": user_id,
                        "why": "no real play of the track there",
                        "recorded": recorded_json(play),
                        "real_of_track": [real_json(p) for p in real if p.item_id == play.track_id],
                        "near": near(play.started_ms, play.ended_ms, faults, start_ms),
                    }
                )
        for i, p in enumerate(real):
            if p.ended_at_ms is None or not RULE.is_play(p.listened_ms, p.duration_ms):
                continue
            if not window[0] <= p.ended_at_ms <= window[1]:
                continue
            counted = tally(p.ended_at_ms)
            counted.ground_truth_plays += 1
            if i in matched:
                counted.recalled += 1
            else:
                counted.missing += 1
                problems.append(
                    {
                        "problem": "missing",
                        "user": user_id,
                        "real": real_json(p),
                        "recorded_of_track": [
                            recorded_json(r) for r in mine if r.track_id == p.item_id
                        ],
                        "near": near(p.started_at_ms, p.ended_at_ms, faults, start_ms),
                    }
                )
    return before, after, problems


# --- the bench -------------------------------------------------------------------------------


async def histories(gateway: str, accounts: list[Account]) -> dict[str, list[Recorded]]:
    """Every user's history as the user sees it, through the gateway (signed in afresh: the
    access tokens of the sign-up may have run out)."""
    found: dict[str, list[Recorded]] = {}
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as http:
        for account in accounts:
            login = await http.post(
                "/api/auth/login", json={"email": account.email, "password": PASSWORD}
            )
            login.raise_for_status()
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            plays: list[Recorded] = []
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"limit": 100}
                if cursor:
                    params["cursor"] = cursor
                page = await http.get("/api/playback/history", params=params, headers=headers)
                page.raise_for_status()
                body = page.json()
                plays += [
                    Recorded(
                        item["track"]["id"],
                        ms(item["started_at"]),
                        ms(item["ended_at"]),
                        item["listened_ms"],
                    )
                    for item in body["items"]
                ]
                if not (cursor := body["next_cursor"]):
                    break
            found[account.user_id] = plays
    return found


async def ground_truth(fake: str, players: list[str]) -> dict[str, list[Play]]:
    truth: dict[str, list[Play]] = {}
    async with httpx.AsyncClient(base_url=fake, timeout=30) as http:
        for player in players:
            body = (await http.get(f"/_control/users/{player}/ground-truth")).json()
            truth[player] = [
                Play(
                    item_id=p["item_id"],
                    item_type=p["item_type"],
                    started_at_ms=p["started_at_ms"],
                    ended_at_ms=p["ended_at_ms"],
                    listened_ms=p["listened_ms"],
                    duration_ms=p["duration_ms"],
                    context_uri=p["context_uri"],
                    device_id=p["device_id"],
                    end_reason=p["end_reason"],
                )
                for p in body["plays"]
                if p["item_type"] == "track"
            ]
    return truth


def ratio(after: dict[str, Any], before: dict[str, Any]) -> dict[str, float | None]:
    def rate(tally: dict[str, Any], key: str) -> float:
        return float(tally[key]) / max(int(tally["ground_truth_plays"]), 1)

    out: dict[str, float | None] = {
        "recall": round(after["recall"] / before["recall"], 4) if before["recall"] else None
    }
    for key in ("missing", "false_plays", "duplicates", "wrong_user"):
        base = rate(before, key)
        out[f"{key}_per_play"] = round(rate(after, key) / base, 2) if base else None
    return out


async def run(
    users: int, minutes: float, seed: int, events_out: Path | None = None
) -> dict[str, Any]:
    rng = random.Random(seed)
    catalogue = generate_catalogue(seed, short_tracks=True)
    databases = {name: test_database_url(name) for name in ("auth", "tokens", "playback")}
    # The stack's fake, with the short catalogue of this seed.
    running = full_stack(
        databases,
        KAFKA,
        gateway_settings=GATEWAY,
        fake_args=("--catalogue", "short", "--seed", str(seed)),
    )
    stack: FullStack = await asyncio.to_thread(running.__enter__)
    follower: asyncio.Task[None] | None = None
    try:
        gateway, fake = stack.gateway.url, stack.fake.url
        progress(f"stack up; signing up and connecting {users} users")
        accounts, players = await asyncio.to_thread(set_up_users, gateway, fake, users)
        log = EventLog(stack.events_topic)
        follower = asyncio.create_task(log.follow())
        by_player = dict(zip(players, accounts, strict=True))
        tracks = sorted(catalogue.tracks)
        rng.shuffle(tracks)
        size = min(60, len(tracks) // users)
        pools = {p: tracks[n * size : (n + 1) * size] for n, p in enumerate(players)}
        listening_ms = int(max(minutes * 60 - 60, 30) * S)
        plans = {p: plan_script(rng, pools[p], catalogue, listening_ms) for p in players}
        unsure = 0
        for player, plan in plans.items():
            plays = simulate(plan, catalogue, seed, player)
            unsure += sum(1 for p in plays if undecidable(p))
            if len(plays) != len(plan.behaviours):
                progress(
                    f"warning: {player} plans {len(plan.behaviours)} plays, makes {len(plays)}"
                )
        first_fault_s, faults = schedule(minutes, rng)
        handler = Faults(stack, log, accounts, players)
        async with httpx.AsyncClient(base_url=fake, timeout=30) as http:
            script_start_ms = wall_ms()
            script_start = time.monotonic()
            for player, plan in plans.items():
                body = {
                    "steps": [
                        {
                            "at_ms": s.at_ms,
                            "action": s.action,
                            "track_ids": list(s.track_ids),
                            "position_ms": s.position_ms,
                        }
                        for s in plan.steps
                    ]
                }
                (await http.put(f"/_control/users/{player}/script", json=body)).raise_for_status()
        progress(
            f"{users} listeners scripted ({unsure} undecidable plays planned); faults at "
            + ", ".join(f"{f.name} {f.planned_s:.0f} s" for f in faults)
        )
        await asyncio.gather(*(handler.run(f, script_start) for f in faults))
        last_end = max(plan.ends_at_ms for plan in plans.values())
        window_end_ms = script_start_ms + last_end + 2 * S
        await asyncio.sleep(max(0.0, script_start + last_end / 1000 + 2 - time.monotonic()))
        progress("every listener has stopped; waiting for playback to apply the last events")
        # Settled: nothing new on the topic for 20 s (a stopped player is seen within one
        # active interval), then the histories are the same twice 5 s apart.
        await until(lambda: time.monotonic() - log.last_read() > 20, 180, 1)
        seen = await histories(gateway, accounts)
        settled = False
        for _ in range(24):
            await asyncio.sleep(5)
            again = await histories(gateway, accounts)
            if again == seen:
                settled = True
                break
            seen = again
        truth = await ground_truth(fake, players)
        recorded = {player: seen[by_player[player].user_id] for player in players}
        events = [e for _, e in log.events]
        if events_out is not None:
            with events_out.open("w") as out:
                for read_at, event in log.events:
                    line = {"read_at": read_at, **event.model_dump(mode="json")}
                    out.write(json.dumps(line) + "\n")
    finally:
        if follower is not None:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
        await asyncio.to_thread(running.__exit__, None, None, None)
    split_ms = script_start_ms + int(first_fault_s * S)
    before, after, problems = compare(
        truth,
        recorded,
        {p: set(pool) for p, pool in pools.items()},
        (script_start_ms, window_end_ms),
        split_ms,
        sorted(faults, key=lambda f: f.started_wall_ms),
    )
    ids = [e.id for e in events]
    after_json, before_json = after.as_dict(), before.as_dict()
    return {
        "bench": "fidelity_soak",
        "results": {
            "what": "plays that ended from the first fault to the end, through every fault",
            "users": users,
            "minutes": minutes,
            "seed": seed,
            **after_json,
            "faults": [f.as_dict(script_start_ms) for f in faults],
            "events_published": len(events),
            "events_repeated": len(ids) - len(set(ids)),
            "events_on_wrong_subject": sum(1 for e in events if e.subject != e.data.user_id),
            "backfilled_track_ends": sum(
                1
                for e in events
                if e.data.backfilled and e.data.kind is PlaybackEventKind.TRACK_ENDED
            ),
            "histories_settled": settled,
            "undecidable_plays_planned": unsure,
        },
        "baseline": {
            "what": (
                f"plays that ended in the first {first_fault_s:.0f} s, before any fault, "
                "same run and users"
            ),
            **before_json,
        },
        "ratio": ratio(after_json, before_json),
        "matching": {
            "same_track_and_start_within_ms": START_TOLERANCE_MS,
            "else_overlapping_with_slack_ms": OVERLAP_SLACK_MS,
            "poll_ms_for_undecidable": POLL_MS,
            "ground_truth": "the fake's plays that reached the rule and ended in the window",
        },
        "problems": problems[:100],
    }


def main() -> None:
    # A consumer of a topic being re-led after a restart warns at every fetch.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--events-out",
        type=Path,
        help="write every event the run published, one JSON object per line, to this file",
    )
    args = parser.parse_args()
    figures = asyncio.run(run(args.users, args.minutes, args.seed, args.events_out))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
