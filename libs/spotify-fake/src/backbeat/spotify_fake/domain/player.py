"""One user's Spotify player as a state machine over time, and the ground truth of its plays.

A play is one stretch during which an item (track or episode) was the player's current item,
from the moment it became current until it stopped being current. Seeking and pausing stay
within the play; a skip, a new context, the end of the item, a repeat-track loop, a restart
through "previous" or the player going away end it. A play is recorded only if some of it
was actually heard (listened_ms > 0). listened_ms counts only audio that played, so a seek
forward does not count the skipped part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from backbeat.spotify_fake.domain.catalogue import Catalogue

ItemKind = Literal["track", "episode", "ad"]
RepeatState = Literal["off", "track", "context"]
EndReason = Literal["completed", "skipped", "stopped"]

# Spotify's audio ads run 15-30 s; a fixed length keeps the simulation easy to reason about.
AD_DURATION_MS = 30_000


class PlayerCommandError(Exception):
    """A player command that Spotify would refuse; `reason` is Spotify's reason code."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    name: str
    type: str
    volume_percent: int = 65


@dataclass(frozen=True, slots=True)
class Play:
    """A play that really happened (see the module docstring for what counts as one)."""

    item_id: str
    item_type: Literal["track", "episode"]
    started_at_ms: int
    ended_at_ms: int | None
    listened_ms: int
    duration_ms: int
    context_uri: str | None
    device_id: str
    end_reason: EndReason | None


@dataclass(frozen=True, slots=True)
class PlayerSnapshot:
    """What Spotify reports about a player at one instant."""

    device: Device
    item_id: str | None
    kind: ItemKind
    is_playing: bool
    progress_ms: int
    timestamp_ms: int
    context_uri: str | None
    repeat_state: RepeatState
    shuffle_state: bool


@dataclass(slots=True)
class _OpenPlay:
    item_id: str
    item_type: Literal["track", "episode"]
    started_at_ms: int
    listened_ms: int
    duration_ms: int
    context_uri: str | None
    device_id: str


class Player:
    """A user's player. Every method takes `now_ms`, which must not go backwards."""

    def __init__(
        self, catalogue: Catalogue, devices: tuple[Device, ...], ad_every_tracks: int | None
    ) -> None:
        self._catalogue = catalogue
        self.devices = devices
        self._ad_every_tracks = ad_every_tracks
        self.device: Device | None = None
        self.kind: ItemKind | None = None
        self.item_id: str | None = None
        self.item_duration_ms = 0
        self.context_uri: str | None = None
        self.queue: tuple[str, ...] = ()
        self.queue_index = 0
        self.is_playing = False
        self.repeat_state: RepeatState = "off"
        self.shuffle_state = False
        # Progress is stored at an anchor instant and extrapolated while playing; the anchor
        # is also Spotify's `timestamp`: when the playback state last changed.
        self.anchor_ms = 0
        self.progress_at_anchor_ms = 0
        self.plays: list[Play] = []
        self._open: _OpenPlay | None = None
        self._tracks_since_ad = 0
        self._after_ad_index: int | None = None

    # -- reading -------------------------------------------------------------------------

    def progress_ms(self, now_ms: int) -> int:
        if not self.is_playing:
            return self.progress_at_anchor_ms
        return min(self.progress_at_anchor_ms + (now_ms - self.anchor_ms), self.item_duration_ms)

    def item_end_at_ms(self) -> int | None:
        """When the current item reaches its end if nobody intervenes; None when paused."""
        if not self.is_playing or self.kind is None:
            return None
        return self.anchor_ms + (self.item_duration_ms - self.progress_at_anchor_ms)

    def snapshot(self, now_ms: int) -> PlayerSnapshot | None:
        """The state at `now_ms` (after `settle`), or None when no device is active."""
        self.settle(now_ms)
        if self.device is None or self.kind is None:
            return None
        return PlayerSnapshot(
            device=self.device,
            item_id=self.item_id,
            kind=self.kind,
            is_playing=self.is_playing,
            progress_ms=self.progress_ms(now_ms),
            timestamp_ms=self.anchor_ms,
            context_uri=self.context_uri,
            repeat_state=self.repeat_state,
            shuffle_state=self.shuffle_state,
        )

    def ground_truth(self, now_ms: int) -> list[Play]:
        """Every play so far, the one in progress last (open: no end yet)."""
        self.settle(now_ms)
        plays = list(self.plays)
        if self._open is not None:
            heard = self._open.listened_ms + (now_ms - self.anchor_ms if self.is_playing else 0)
            if heard > 0:
                plays.append(self._as_play(self._open, heard, None, None))
        return plays

    # -- time ----------------------------------------------------------------------------

    def settle(self, now_ms: int) -> None:
        """Apply every item end (auto-advance) that happened up to `now_ms`."""
        while (end := self.item_end_at_ms()) is not None and end <= now_ms:
            self._finish_item(end)

    # -- commands ------------------------------------------------------------------------

    def play_context(
        self,
        now_ms: int,
        context_uri: str | None,
        *,
        queue: tuple[str, ...] | None = None,
        index: int = 0,
        position_ms: int = 0,
        device: Device | None = None,
        shuffle: bool = False,
    ) -> None:
        """Start an album, playlist or show, or a bare list of tracks, at `index`."""
        if queue is None and context_uri is None:
            raise ValueError("a context or a queue is needed")
        self.settle(now_ms)
        self._touch(now_ms)
        self._close_open(now_ms, "skipped")
        self.device = device or self.device or self.devices[0]
        self.context_uri = context_uri
        if queue is None:
            assert context_uri is not None
            queue = self._catalogue.context_track_ids(context_uri)
        self.queue = queue
        self.shuffle_state = shuffle
        self.repeat_state = "off"
        self._after_ad_index = None
        self._load(now_ms, index, position_ms)
        self.is_playing = True

    def set_item(
        self,
        now_ms: int,
        *,
        item_id: str | None,
        kind: ItemKind,
        is_playing: bool,
        progress_ms: int,
        device: Device,
        context_uri: str | None = None,
    ) -> None:
        """Put the player in an exact state, as a test script does."""
        self.settle(now_ms)
        self._touch(now_ms)
        self._close_open(now_ms, "skipped")
        self.device = device
        self.context_uri = context_uri
        self.repeat_state = "off"
        self._after_ad_index = None
        if kind == "ad":
            self.queue, self.queue_index = (), 0
            self.kind, self.item_id, self.item_duration_ms = "ad", None, AD_DURATION_MS
        else:
            assert item_id is not None
            self.queue, self.queue_index = (item_id,), 0
            self._load(now_ms, 0, 0)
        self.progress_at_anchor_ms = max(0, min(progress_ms, self.item_duration_ms))
        self.is_playing = is_playing

    def pause(self, now_ms: int) -> None:
        self.settle(now_ms)
        if self.device is None or self.kind is None:
            raise _no_active_device()
        if not self.is_playing:
            raise _restriction_violated()
        self._touch(now_ms)
        self.is_playing = False

    def resume(self, now_ms: int, device: Device | None = None) -> None:
        self.settle(now_ms)
        if self.kind is None:
            raise _no_active_device()
        if self.is_playing and (device is None or device == self.device):
            raise _restriction_violated()
        self._touch(now_ms)
        if device is not None:
            self._transfer_open(device)
        if self._open is None and self.kind != "ad" and self.item_id is not None:
            self._open_play(now_ms, self.item_id)
        self.is_playing = True

    def seek(self, now_ms: int, position_ms: int) -> None:
        self.settle(now_ms)
        if self.kind is None:
            raise _no_active_device()
        self._touch(now_ms)
        self.progress_at_anchor_ms = max(0, min(position_ms, self.item_duration_ms))
        self.settle(now_ms)

    def skip_next(self, now_ms: int) -> None:
        self.settle(now_ms)
        if self.device is None or self.kind is None:
            raise _no_active_device()
        self._touch(now_ms)
        self._close_open(now_ms, "skipped")
        self.is_playing = True
        self._advance(now_ms, skipping=True)

    def skip_previous(self, now_ms: int) -> None:
        self.settle(now_ms)
        if self.device is None or self.kind is None:
            raise _no_active_device()
        self._touch(now_ms)
        self._close_open(now_ms, "skipped")
        self.is_playing = True
        if self.kind == "ad":
            self.progress_at_anchor_ms = 0
            return
        self._load(now_ms, max(0, self.queue_index - 1), 0)

    def set_repeat(self, now_ms: int, state: RepeatState) -> None:
        self.settle(now_ms)
        self._touch(now_ms)
        self.repeat_state = state

    def transfer(self, now_ms: int, device: Device) -> None:
        self.settle(now_ms)
        if self.kind is None:
            raise _no_active_device()
        self._touch(now_ms)
        self._transfer_open(device)

    def stop(self, now_ms: int) -> None:
        """The user closes Spotify: the device goes away and nothing is reported any more."""
        self.settle(now_ms)
        self._touch(now_ms)
        self._close_open(now_ms, "stopped")
        self.device = None
        self.kind = None
        self.item_id = None
        self.context_uri = None
        self.queue = ()
        self.is_playing = False
        self.progress_at_anchor_ms = 0

    # -- internals -----------------------------------------------------------------------

    def _touch(self, now_ms: int) -> None:
        """Move the anchor to `now_ms`, crediting the audio heard since the last anchor."""
        progress = self.progress_ms(now_ms)
        if self.is_playing and self._open is not None:
            self._open.listened_ms += progress - self.progress_at_anchor_ms
        self.progress_at_anchor_ms = progress
        self.anchor_ms = now_ms

    def _load(self, now_ms: int, index: int, position_ms: int) -> None:
        self.queue_index = index
        item_id = self.queue[index]
        self.item_id = item_id
        self.kind = "track" if item_id in self._catalogue.tracks else "episode"
        self.item_duration_ms = self._catalogue.duration_ms(item_id)
        self.progress_at_anchor_ms = max(0, min(position_ms, self.item_duration_ms))
        self.anchor_ms = now_ms
        self._open_play(now_ms, item_id)

    def _open_play(self, now_ms: int, item_id: str) -> None:
        assert self.device is not None and self.kind in ("track", "episode")
        self._open = _OpenPlay(
            item_id=item_id,
            item_type="track" if self.kind == "track" else "episode",
            started_at_ms=now_ms,
            listened_ms=0,
            duration_ms=self.item_duration_ms,
            context_uri=self.context_uri,
            device_id=self.device.id,
        )

    def _transfer_open(self, device: Device) -> None:
        self.device = device

    def _close_open(self, now_ms: int, reason: EndReason) -> None:
        if self._open is not None and self._open.listened_ms > 0:
            self.plays.append(self._as_play(self._open, self._open.listened_ms, now_ms, reason))
        self._open = None

    @staticmethod
    def _as_play(
        open_play: _OpenPlay, listened_ms: int, ended_at_ms: int | None, reason: EndReason | None
    ) -> Play:
        return Play(
            item_id=open_play.item_id,
            item_type=open_play.item_type,
            started_at_ms=open_play.started_at_ms,
            ended_at_ms=ended_at_ms,
            listened_ms=listened_ms,
            duration_ms=open_play.duration_ms,
            context_uri=open_play.context_uri,
            device_id=open_play.device_id,
            end_reason=reason,
        )

    def _finish_item(self, end_ms: int) -> None:
        self._touch(end_ms)
        self._close_open(end_ms, "completed")
        if self.kind != "ad" and self.repeat_state == "track":
            self._load(end_ms, self.queue_index, 0)
            return
        self._advance(end_ms, skipping=False)

    def _advance(self, now_ms: int, *, skipping: bool) -> None:
        """Move to the next item of the queue, through an ad when one is due."""
        if self.kind == "ad":
            if self._after_ad_index is None or not self.queue:
                self.stop(now_ms)
                return
            index, self._after_ad_index = self._after_ad_index, None
            self._load(now_ms, index, 0)
            return
        index = self.queue_index + 1
        if index >= len(self.queue):
            if self.repeat_state == "context" or skipping:
                index = 0
            else:
                # Spotify parks a finished context at its first item, paused.
                self._load(now_ms, 0, 0)
                self.is_playing = False
                return
        self._tracks_since_ad += 1
        if self._ad_every_tracks is not None and self._tracks_since_ad >= self._ad_every_tracks:
            self._tracks_since_ad = 0
            self._after_ad_index = index
            self.kind, self.item_id, self.item_duration_ms = "ad", None, AD_DURATION_MS
            self.progress_at_anchor_ms = 0
            self.anchor_ms = now_ms
            return
        self._load(now_ms, index, 0)


def _no_active_device() -> PlayerCommandError:
    return PlayerCommandError(
        404, "NO_ACTIVE_DEVICE", "Player command failed: No active device found"
    )


def _restriction_violated() -> PlayerCommandError:
    return PlayerCommandError(403, "UNKNOWN", "Player command failed: Restriction violated")
