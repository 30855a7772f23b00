"""Seeded listener scenarios for the play-fidelity suite: each is one scripted listener whose
decisive moment (a skip, a seek back, a track running out, a pause, a stop just short of the
play rule) falls inside one of the suite's faults, at a moment drawn from its seed.

A script is checked against a local copy of the fake's player before it is used, so that no
play lands where neither polling nor Spotify's record can decide it (see `undecidable`): a
play that a skip or a stop ends less than one poll after it reached the rule, or one within
a rounding of the rule; a play shorter than 30 s that ends unseen (Spotify does not list
it); a play that began unseen and was seeked or paused before the first poll saw it (only
what followed its last change is proven); a seek back, unseen, to a point the play could
have reached by playing on since the last poll (it reads as a pause and a resume).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from backbeat.playback.domain.play_rule import PlayRule
from backbeat.spotify_fake.domain.catalogue import Catalogue
from backbeat.spotify_fake.domain.listener import devices_for
from backbeat.spotify_fake.domain.player import Play, Player
from backbeat.spotify_fake.domain.script import ScriptedListener, ScriptStep

S = 1_000
RULE = PlayRule()
# The suite's faults, in ms from the moment the scripts begin.
SERVER_ERRORS = (60 * S, 90 * S)  # every Web API call answers 503
RATE_LIMITED = (150 * S, 170 * S)  # a 429 storm with Retry-After: 20
WATCHER_DOWN = (240 * S, 325 * S)  # the watcher is stopped for 85 s
LIVE = (335 * S, 395 * S)  # watched closely: the stops just short of the rule
# Idle listeners (nothing plays from the start) play one short track through and stop, all
# between the first poll after the watcher's restart and the next, an idle interval (60 s,
# give or take its jitter) later: only Spotify's record shows that play.
IDLE = (WATCHER_DOWN[1] + 2 * S, WATCHER_DOWN[1] + 53 * S)
# The longest track an idle listener plays unseen.
UNSEEN_TRACK_MAX_MS = 48_000
END = 400 * S  # every listener stops
# Long enough for an idle listener's next poll after the restart (the never-active tier polls
# every 120 s) to come.
RUN_UNTIL = 470 * S
# Polls of a playing user come at most this far apart (the active interval and some slack):
# a skip or a stop this soon after the rule was reached cannot be told from one just before.
POLL_MS = 6_500

# Each kind of scenario is drawn this many times over (other seeds, other moments).
ROUNDS = 2

Kind = Literal[
    "skip", "seek_back", "runs_out", "pause_resume", "stop", "repeat", "transfer", "idle_play"
]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    kind: Kind
    window: tuple[int, int]
    seed: int


def suite() -> list[Scenario]:
    plan: list[tuple[Kind, tuple[int, int], int]] = [
        ("skip", SERVER_ERRORS, 3),
        ("seek_back", SERVER_ERRORS, 2),
        ("runs_out", SERVER_ERRORS, 2),
        ("skip", RATE_LIMITED, 2),
        ("seek_back", RATE_LIMITED, 1),
        ("runs_out", RATE_LIMITED, 1),
        ("seek_back", WATCHER_DOWN, 3),
        ("skip", WATCHER_DOWN, 3),
        ("runs_out", WATCHER_DOWN, 2),
        ("pause_resume", WATCHER_DOWN, 1),
        ("stop", LIVE, 3),
        ("repeat", LIVE, 1),
        ("transfer", LIVE, 1),
        ("idle_play", IDLE, 2),
    ]
    names = {
        SERVER_ERRORS: "5xx",
        RATE_LIMITED: "429",
        WATCHER_DOWN: "down",
        LIVE: "live",
        IDLE: "idle",
    }
    scenarios = []
    for kind, window, count in plan:
        for n in range(count * ROUNDS):
            seed = 1000 + len(scenarios)
            scenarios.append(Scenario(f"{kind}-{names[window]}-{n}", kind, window, seed))
    return scenarios


def undecidable(play: Play) -> bool:
    """Within a rounding of the rule, or ended by a skip or stop less than a poll after it."""
    required = RULE.required_ms(play.duration_ms)
    if abs(play.listened_ms - required) < 1_500:
        return True
    return play.end_reason != "completed" and required <= play.listened_ms < required + POLL_MS


def simulate(
    steps: list[ScriptStep], catalogue: Catalogue, seed: int, user_id: str, until_ms: int
) -> list[Play]:
    player = Player(catalogue, devices_for(seed, user_id), ad_every_tracks=None)
    ScriptedListener(player, steps, 0).advance_to(until_ms)
    return player.ground_truth(until_ms)


def script_for(
    scenario: Scenario, pool: list[str], catalogue: Catalogue, fake_seed: int, user_id: str
) -> list[ScriptStep]:
    """Draws the scenario's script from its seed until one has no undecidable play."""
    rng = random.Random(scenario.seed)
    for _ in range(500):
        steps = _draw(scenario, rng, pool, catalogue)
        if steps is None:
            continue
        plays = simulate(steps, catalogue, fake_seed, user_id, RUN_UNTIL)
        if not any(undecidable(p) for p in plays) and _well_formed(plays):
            return steps
    raise AssertionError(f"no decidable script for {scenario.name}")


def _well_formed(plays: list[Play]) -> bool:
    """A play that ends unseen, inside a gap in watching (a fault and the poll either side of
    it), must have been heard past 30 s: Spotify does not list shorter ones, so no poller can
    know them, nor when the next one began."""
    gaps = [(w0 - POLL_MS, w1 + POLL_MS) for w0, w1 in (SERVER_ERRORS, RATE_LIMITED, WATCHER_DOWN)]
    for play in plays:
        end = play.ended_at_ms
        if end is not None and any(g0 <= end <= g1 for g0, g1 in gaps):
            if play.listened_ms <= 31_000:
                return False
    return True


def _draw(
    scenario: Scenario, rng: random.Random, pool: list[str], catalogue: Catalogue
) -> list[ScriptStep] | None:
    if scenario.kind == "idle_play":
        return _draw_idle_play(scenario, rng, pool, catalogue)
    tracks = rng.sample([t for t in pool if catalogue.duration_ms(t) > UNSEEN_TRACK_MAX_MS], 8)
    a = tracks[0]
    duration = catalogue.duration_ms(a)
    required = RULE.required_ms(duration)
    w0, w1 = scenario.window
    # The decisive listening: clearly below the rule or clearly past it.
    below = rng.random() < 0.5
    target = required - rng.randint(3, 20) * S if below else required + rng.randint(8, 25) * S
    target = max(5 * S, min(target, duration - 3 * S))
    moment = rng.randint(w0 + 2 * S, w1 - 2 * S)
    steps: list[ScriptStep] = [ScriptStep(0, "play", track_ids=tuple(tracks[4:]))]

    def play_a_at(at: int) -> None:
        steps.append(ScriptStep(at, "play", track_ids=(a, *tracks[1:4])))

    match scenario.kind:
        case "skip" | "stop":
            start = moment - target
            play_a_at(start)
            steps.append(ScriptStep(moment, "next" if scenario.kind == "skip" else "stop"))
            if scenario.kind == "stop":
                steps.append(ScriptStep(moment + 8 * S, "play", track_ids=tuple(tracks[1:4])))
        case "runs_out":
            play_a_at(moment - duration)
        case "seek_back":
            # Heard `before` when it seeks back `back`, then heard on until `target`; it was
            # seen playing before the fault.
            moment = rng.randint(w0 + 2 * S, min(w1 - 2 * S, w0 + 30 * S))
            before = rng.randint(20 * S, max(21 * S, min(target, duration - 10 * S)))
            back = rng.randint(5 * S, max(6 * S, before - 5 * S))
            start = moment - before
            if start > w0 - POLL_MS:
                return None  # a play begun and seeked unseen: see `undecidable`
            if before - back >= w0 - POLL_MS - start:
                # Back to a point it could have reached by playing since the last poll: that
                # cannot be told from a pause and a resume (see `undecidable`).
                return None
            play_a_at(start)
            steps.append(ScriptStep(moment, "seek", position_ms=before - back))
            rest = target - before
            if rest < 10 * S or before - back + rest >= duration - 3 * S:
                return None
            steps.append(ScriptStep(moment + rest, "next"))
        case "pause_resume":
            pause_at = rng.randint(w0 + 5 * S, w0 + 30 * S)
            resume_at = rng.randint(pause_at + 10 * S, w1 - 10 * S)
            heard_before_pause = rng.randint(10 * S, 60 * S)
            start = pause_at - heard_before_pause
            if start > w0 - POLL_MS:
                return None  # a play begun and paused unseen: see `undecidable`
            play_a_at(start)
            steps += [ScriptStep(pause_at, "pause"), ScriptStep(resume_at, "resume")]
            skip_at = resume_at + (target - heard_before_pause)
            # Ended after the gap: a pause inside a gap that also holds the play's end would
            # be credited as heard (Spotify dates the end, not the pause).
            if skip_at <= w1 + POLL_MS or target - heard_before_pause < 10 * S:
                return None
            if heard_before_pause + (skip_at - resume_at) >= duration - 3 * S:
                return None
            steps.append(ScriptStep(skip_at, "next"))
        case "repeat":
            play_a_at(moment - duration + rng.randint(10, 30) * S)
            steps.append(ScriptStep(moment - duration + 5 * S, "repeat", repeat="track"))
            steps.append(ScriptStep(moment + 20 * S, "repeat", repeat="off"))
            steps.append(ScriptStep(moment + target, "next"))
        case "transfer":
            play_a_at(moment - target // 2)
            steps.append(ScriptStep(moment, "transfer", device_index=1))
            steps.append(ScriptStep(moment - target // 2 + target, "next"))
    if any(step.at_ms < 0 for step in steps):
        return None
    return [step for step in steps if step.at_ms < END] + [ScriptStep(END, "stop")]


def _draw_idle_play(
    scenario: Scenario, rng: random.Random, pool: list[str], catalogue: Catalogue
) -> list[ScriptStep] | None:
    """Nothing plays, then one short track plays through and the player falls idle again,
    all between two polls of an idle user."""
    short = [t for t in pool if catalogue.duration_ms(t) <= UNSEEN_TRACK_MAX_MS]
    if not short:
        raise AssertionError(f"{scenario.name} needs short tracks in its pool")
    a = rng.choice(short)
    w0, w1 = scenario.window
    latest = w1 - catalogue.duration_ms(a) - S
    if latest < w0:
        return None
    start = rng.randint(w0, latest)
    return [
        ScriptStep(start, "play", track_ids=(a,)),
        # Stopped, not left at the end of its queue: the player is idle again, as it was.
        ScriptStep(start + catalogue.duration_ms(a) + S, "stop"),
    ]
