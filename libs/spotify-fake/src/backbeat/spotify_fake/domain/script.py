"""Scripted listeners: a user who does exactly what a test wrote down, at the moments written
down, on the fake's clock: play a list of tracks, skip, seek, pause, resume, repeat the same
track, switch device, stop. Like a simulated listener, the script is advanced lazily, so the
fake answers the same whether it is asked once or a thousand times along the way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from backbeat.spotify_fake.domain.player import Device, Player, PlayerCommandError

ScriptAction = Literal[
    "play", "seek", "pause", "resume", "next", "previous", "repeat", "transfer", "stop"
]


@dataclass(frozen=True, slots=True)
class ScriptStep:
    """One thing the listener does, ``at_ms`` after the script began.

    ``play`` starts ``track_ids`` in order from ``position_ms`` of the first (the queue runs
    on by itself); ``seek`` moves to ``position_ms``; ``repeat`` sets ``repeat`` ("track",
    "context" or "off"); ``transfer`` moves playback to the device at ``device_index``.
    """

    at_ms: int
    action: ScriptAction
    track_ids: tuple[str, ...] = ()
    position_ms: int = 0
    repeat: Literal["off", "track", "context"] = "off"
    device_index: int = 0


class ScriptedListener:
    """Performs ``steps`` on ``player`` from ``start_ms``. A step the player refuses (pausing
    what is already paused) is skipped, as a user's tap on a button that does nothing."""

    def __init__(self, player: Player, steps: list[ScriptStep], start_ms: int) -> None:
        self.player = player
        self._steps = sorted(steps, key=lambda step: step.at_ms)
        self._start_ms = start_ms
        self._done = 0

    @property
    def next_action_at_ms(self) -> int | None:
        if self._done >= len(self._steps):
            return None
        return self._start_ms + self._steps[self._done].at_ms

    def advance_to(self, now_ms: int) -> None:
        while (at := self.next_action_at_ms) is not None and at <= now_ms:
            step = self._steps[self._done]
            self._done += 1
            self.player.settle(at)
            try:
                self._perform(step, at)
            except PlayerCommandError:
                continue
        self.player.settle(now_ms)

    def halt(self, now_ms: int) -> None:
        self.advance_to(now_ms)
        self._done = len(self._steps)
        self.player.stop(now_ms)

    def _device(self, index: int) -> Device:
        devices = self.player.devices
        return devices[index % len(devices)]

    def _perform(self, step: ScriptStep, at: int) -> None:
        player = self.player
        match step.action:
            case "play":
                player.play_context(
                    at,
                    None,
                    queue=step.track_ids,
                    position_ms=step.position_ms,
                    device=player.device or self._device(step.device_index),
                )
            case "seek":
                player.seek(at, step.position_ms)
            case "pause":
                player.pause(at)
            case "resume":
                player.resume(at)
            case "next":
                player.skip_next(at)
            case "previous":
                player.skip_previous(at)
            case "repeat":
                player.set_repeat(at, step.repeat)
            case "transfer":
                player.transfer(at, self._device(step.device_index))
            case "stop":
                player.stop(at)
