"""Simulated listeners: seeded, deterministic sessions that drive a user's player over time.

Each listener owns a random generator seeded from (seed, user id), so one user's behaviour
does not depend on any other user's, nor on when the fake is asked about it: advancing a
listener to 18:00 in one step or in a thousand steps gives the same plays.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from backbeat.spotify_fake.domain.catalogue import Catalogue
from backbeat.spotify_fake.domain.player import Device, Play, Player, PlayerCommandError

ActionKind = Literal[
    "start_session",
    "decide",
    "next",
    "previous",
    "pause",
    "resume",
    "seek",
    "repeat_on",
    "repeat_off",
    "transfer",
    "end_session",
    "go_away",
]

_SECOND = 1_000
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE

# The free tier interrupts music with ads; every few tracks is close to what users report.
FREE_TIER_AD_EVERY_TRACKS = 4

_DEVICE_KINDS = (
    ("Computer", "Laptop"),
    ("Smartphone", "Phone"),
    ("Speaker", "Kitchen speaker"),
    ("TV", "Living room TV"),
    ("Computer", "Work desktop"),
)


def devices_for(seed: int, user_id: str) -> tuple[Device, ...]:
    """The devices a user owns (2-4), the same for the same seed and user."""
    rng = random.Random(f"devices:{seed}:{user_id}")
    kinds = rng.sample(_DEVICE_KINDS, rng.randint(2, 4))
    return tuple(
        Device(id=f"{rng.getrandbits(160):040x}", name=name, type=kind) for kind, name in kinds
    )


@dataclass(frozen=True, slots=True)
class ListenerHabits:
    """How one listener tends to behave; drawn once per listener."""

    skip_rate: float
    pause_rate: float
    seek_rate: float
    repeat_rate: float
    previous_rate: float
    switch_device_rate: float
    session_end_rate: float
    podcast_rate: float
    idle_hours: tuple[float, float]


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    at_ms: int
    position_ms: int = 0
    device_index: int = 0


class Listener:
    """Drives one player: decides at each item start what the user does during it."""

    def __init__(
        self, user_id: str, seed: int, catalogue: Catalogue, player: Player, start_ms: int
    ) -> None:
        self.user_id = user_id
        self.player = player
        self._catalogue = catalogue
        self._albums = sorted(catalogue.albums)
        self._playlists = sorted(catalogue.playlists)
        self._shows = sorted(catalogue.shows)
        self._rng = random.Random(f"listener:{seed}:{user_id}")
        rng = self._rng
        self.habits = ListenerHabits(
            skip_rate=rng.uniform(0.05, 0.3),
            pause_rate=rng.uniform(0.01, 0.08),
            seek_rate=rng.uniform(0.0, 0.05),
            repeat_rate=rng.uniform(0.0, 0.03),
            previous_rate=rng.uniform(0.0, 0.04),
            switch_device_rate=rng.uniform(0.0, 0.03),
            session_end_rate=rng.uniform(0.02, 0.08),
            podcast_rate=rng.uniform(0.0, 0.15) if self._shows else 0.0,
            idle_hours=(rng.uniform(0.2, 1.0), rng.uniform(1.5, 9.0)),
        )
        # Some users are already listening when the simulation starts, the others arrive later.
        first_at = start_ms if rng.random() < 0.5 else start_ms + rng.randrange(2 * _HOUR)
        self._next: Action | None = Action("start_session", first_at)
        self._device_index = 0

    @property
    def next_action_at_ms(self) -> int | None:
        return None if self._next is None else self._next.at_ms

    def advance_to(self, now_ms: int) -> None:
        """Perform every action due up to `now_ms`, then bring the player to `now_ms`."""
        while self._next is not None and self._next.at_ms <= now_ms:
            action, self._next = self._next, None
            self.player.settle(action.at_ms)
            try:
                self._perform(action)
            except PlayerCommandError:
                # The player was changed under the listener (by a control or API command);
                # a real user would look at the screen and decide again.
                self._next = Action("decide", action.at_ms + 5 * _SECOND)
        self.player.settle(now_ms)

    def halt(self, now_ms: int) -> None:
        """Stop simulating: the user closes Spotify now and does nothing more."""
        self.advance_to(now_ms)
        self._next = None
        self.player.stop(now_ms)

    # -- behaviour -----------------------------------------------------------------------

    def _perform(self, action: Action) -> None:
        player, at = self.player, action.at_ms
        match action.kind:
            case "start_session":
                self._start_session(at)
            case "decide":
                self._decide(at)
            case "next":
                player.skip_next(at)
                self._decide(at)
            case "previous":
                player.skip_previous(at)
                self._decide(at)
            case "pause":
                player.pause(at)
                pause_ms = int(min(self._rng.lognormvariate(10.5, 1.2), 45 * _MINUTE))
                self._next = Action("resume", at + max(pause_ms, 2 * _SECOND))
            case "resume":
                player.resume(at)
                self._decide_at_item_end(at)
            case "seek":
                player.seek(at, action.position_ms)
                self._decide_at_item_end(at)
            case "repeat_on":
                player.set_repeat(at, "track")
                self._decide_at_item_end(at)
            case "repeat_off":
                player.set_repeat(at, "off")
                self._decide_at_item_end(at)
            case "transfer":
                player.transfer(at, player.devices[action.device_index])
                self._decide_at_item_end(at)
            case "end_session":
                if player.is_playing:
                    player.pause(at)
                self._next = Action("go_away", at + self._rng.randint(1, 30) * _MINUTE)
            case "go_away":
                player.stop(at)
                low, high = self.habits.idle_hours
                self._next = Action("start_session", at + int(self._rng.uniform(low, high) * _HOUR))

    def _start_session(self, at: int) -> None:
        rng, player = self._rng, self.player
        # Most people keep using the same device; now and then they pick up another one.
        if rng.random() < 0.25:
            self._device_index = rng.randrange(len(player.devices))
        device = player.devices[self._device_index]
        roll = rng.random()
        if roll < self.habits.podcast_rate:
            show = self._catalogue.shows[rng.choice(self._shows)]
            episode_id = rng.choice(show.episode_ids)
            player.play_context(at, show.uri, queue=(episode_id,), device=device)
        elif roll < 0.5:
            album = self._catalogue.albums[rng.choice(self._albums)]
            player.play_context(at, album.uri, device=device)
        else:
            playlist = self._catalogue.playlists[rng.choice(self._playlists)]
            shuffle = rng.random() < 0.5
            queue = playlist.track_ids
            if shuffle:
                queue = tuple(rng.sample(queue, len(queue)))
            player.play_context(at, playlist.uri, queue=queue, device=device, shuffle=shuffle)
        self._decide(at)

    def _decide(self, at: int) -> None:
        """Plan what happens during the item that is current at `at`."""
        rng, player, habits = self._rng, self.player, self.habits
        if not player.is_playing:
            # The context ran out (or something paused the player): carry on or leave.
            if player.kind is not None and rng.random() < 0.6:
                self._next = Action("start_session", at + rng.randint(3, 90) * _SECOND)
            else:
                self._next = Action("end_session", at + rng.randint(1, 20) * _SECOND)
            return
        if player.kind == "ad":
            self._decide_at_item_end(at)
            return
        if player.repeat_state == "track":
            self._next = Action("repeat_off", at + rng.randint(5, 60) * _SECOND)
            return
        remaining = player.item_duration_ms - player.progress_ms(at)

        def moment(low: float, high: float) -> int:
            """A moment inside the current item, never at or past its end."""
            return at + max(1, int(remaining * rng.uniform(low, high)))

        choices: tuple[tuple[float, ActionKind], ...] = (
            (habits.session_end_rate, "end_session"),
            (habits.skip_rate, "next"),
            (habits.pause_rate, "pause"),
            (habits.seek_rate, "seek"),
            (habits.repeat_rate, "repeat_on"),
            (habits.previous_rate, "previous"),
            (habits.switch_device_rate, "transfer"),
        )
        kind = _pick(choices, rng.random())
        if kind is None:
            self._decide_at_item_end(at)
        elif kind == "seek":
            position = int(player.item_duration_ms * rng.uniform(0.0, 0.95))
            self._next = Action("seek", moment(0.05, 0.6), position_ms=position)
        elif kind == "transfer":
            others = [i for i in range(len(player.devices)) if player.devices[i] != player.device]
            self._device_index = rng.choice(others)
            self._next = Action("transfer", moment(0.05, 0.9), device_index=self._device_index)
        elif kind == "next":
            self._next = Action("next", moment(0.01, 0.7))
        else:
            self._next = Action(kind, moment(0.05, 0.95))

    def _decide_at_item_end(self, at: int) -> None:
        end = self.player.item_end_at_ms()
        self._next = Action("decide", end if end is not None else at + 10 * _SECOND)


def _pick(choices: tuple[tuple[float, ActionKind], ...], roll: float) -> ActionKind | None:
    """The choice whose probability band `roll` falls in; None for the remainder."""
    for rate, kind in choices:
        if roll < rate:
            return kind
        roll -= rate
    return None


def simulate_listeners(
    seed: int,
    user_ids: list[str],
    catalogue: Catalogue,
    start_ms: int,
    until_ms: int,
    *,
    free_user_ids: frozenset[str] = frozenset(),
) -> dict[str, list[Play]]:
    """Run listeners from `start_ms` to `until_ms` and return each user's ground truth."""
    ground_truth: dict[str, list[Play]] = {}
    for user_id in user_ids:
        player = Player(
            catalogue,
            devices_for(seed, user_id),
            ad_every_tracks=FREE_TIER_AD_EVERY_TRACKS if user_id in free_user_ids else None,
        )
        listener = Listener(user_id, seed, catalogue, player, start_ms)
        listener.advance_to(until_ms)
        ground_truth[user_id] = player.ground_truth(until_ms)
    return ground_truth
