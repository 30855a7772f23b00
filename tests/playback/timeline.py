"""Playback events from the Spotify fake's simulated listeners, observed the way a watcher
would: by reading each player's state and publishing what changed.

The observer looks at every player at each moment anything can change (a listener's next
action, the current item's natural end) on the fake's manual clock, so each change is seen
at the instant it happened; what it reports is only what Spotify's player state shows
(track, playing or not, position, device, context). Seeks, pauses, skips, repeats and ads are
told apart from those readings alone, as a watcher must. Only tracks become events: while an
ad or a podcast episode plays, the user's track player is idle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from backbeat.events.playback import (
    Artist,
    Device,
    PlaybackContext,
    PlaybackEventData,
    PlaybackEventKind,
    Track,
)
from backbeat.playback.domain.projection import IncomingEvent
from backbeat.spotify_fake.domain.player import PlayerSnapshot
from backbeat.spotify_fake.fake import FakeSpotify

# Positions within this of the expected one are the same position (the fake counts whole ms).
SAME_POSITION_MS = 2


@dataclass(frozen=True, slots=True)
class Reading:
    """A track player's state at one instant; ``track_id`` None when no track plays."""

    at_ms: int
    track_id: str | None
    is_playing: bool
    progress_ms: int
    device_id: str | None
    context_uri: str | None
    present: bool
    """False once the player has gone away (Spotify answers 204)."""

    def expected_progress(self, at_ms: int, duration_ms: int) -> int:
        if not self.is_playing:
            return self.progress_ms
        return min(self.progress_ms + (at_ms - self.at_ms), duration_ms)


def read(snapshot: PlayerSnapshot | None, at_ms: int) -> Reading:
    if snapshot is None:
        return Reading(at_ms, None, False, 0, None, None, present=False)
    track_id = snapshot.item_id if snapshot.kind == "track" else None
    return Reading(
        at_ms,
        track_id,
        snapshot.is_playing,
        snapshot.progress_ms,
        snapshot.device.id,
        snapshot.context_uri,
        present=True,
    )


class Observer:
    """Turns one user's readings into playback events with a per-user sequence."""

    def __init__(self, fake: FakeSpotify, user_id: str) -> None:
        self.fake = fake
        self.user_id = user_id
        self.last = Reading(0, None, False, 0, None, None, present=False)
        self.sequence = 0
        self.events: list[IncomingEvent] = []

    def track(self, track_id: str) -> Track:
        catalogue = self.fake.catalogue
        found = catalogue.tracks[track_id]
        return Track(
            id=found.id,
            uri=found.uri,
            name=found.name,
            artists=[
                Artist(id=artist, name=catalogue.artists[artist].name)
                for artist in found.artist_ids
            ],
            album_id=found.album_id,
            duration_ms=found.duration_ms,
        )

    def device(self, device_id: str | None) -> Device | None:
        if device_id is None:
            return None
        user = self.fake.user(self.user_id)
        found = user.device(device_id)
        return Device(id=found.id, name=found.name, type=found.type)

    def emit(
        self,
        kind: PlaybackEventKind,
        reading: Reading,
        track_id: str | None,
        progress_ms: int | None,
    ) -> None:
        self.sequence += 1
        context = (
            PlaybackContext(type=reading.context_uri.split(":")[1], uri=reading.context_uri)
            if reading.context_uri
            else None
        )
        data = PlaybackEventData(
            kind=kind,
            user_id=self.user_id,
            sequence=self.sequence,
            track=self.track(track_id) if track_id else None,
            progress_ms=progress_ms,
            is_playing=reading.is_playing and kind is not PlaybackEventKind.TRACK_ENDED,
            device=self.device(reading.device_id),
            context=context,
            spotify_timestamp_ms=reading.at_ms,
            observed_at=datetime.fromtimestamp(reading.at_ms / 1000, UTC),
        )
        self.events.append(IncomingEvent(f"{self.user_id}-{self.sequence}", data))

    def observe(self, now: Reading) -> None:
        last = self.last
        self.last = now
        kinds = PlaybackEventKind
        if last.track_id is not None:
            duration = self.fake.catalogue.tracks[last.track_id].duration_ms
            where = last.expected_progress(now.at_ms, duration)
            same_track = now.track_id == last.track_id and now.context_uri == last.context_uri
            restarted = (
                same_track and now.progress_ms == 0 and abs(where - 0) > SAME_POSITION_MS
            ) or (same_track and where >= duration and now.progress_ms < duration)
            if not same_track or restarted:
                if now.track_id is None and not now.present:
                    self.emit(kinds.STOPPED, now, None, None)
                    return
                self.emit(kinds.TRACK_ENDED, now, last.track_id, where)
                last = Reading(now.at_ms, None, False, 0, None, None, present=True)
        if now.track_id is None:
            return
        if last.track_id is None:
            self.emit(kinds.TRACK_STARTED, now, now.track_id, now.progress_ms)
            return
        duration = self.fake.catalogue.tracks[now.track_id].duration_ms
        if abs(now.progress_ms - last.expected_progress(now.at_ms, duration)) > SAME_POSITION_MS:
            self.emit(kinds.SEEKED, now, now.track_id, now.progress_ms)
        if now.is_playing != last.is_playing:
            self.emit(
                kinds.RESUMED if now.is_playing else kinds.PAUSED,
                now,
                now.track_id,
                now.progress_ms,
            )
        if now.device_id != last.device_id:
            self.emit(kinds.DEVICE_CHANGED, now, now.track_id, now.progress_ms)


def simulate(fake: FakeSpotify, user_ids: list[str], until_ms: int) -> dict[str, Observer]:
    """Run the fake's listeners to ``until_ms`` (manual clock), observing every change."""
    observers = {user_id: Observer(fake, user_id) for user_id in user_ids}
    for user_id, observer in observers.items():
        observer.observe(read(fake.snapshot(user_id), fake.now_ms()))
    while True:
        moments = []
        for user_id in user_ids:
            user = fake.user(user_id)
            if user.listener is not None and user.listener.next_action_at_ms is not None:
                moments.append(user.listener.next_action_at_ms)
            if (end := user.player.item_end_at_ms()) is not None:
                moments.append(end)
        now = fake.now_ms()
        upcoming = [moment for moment in moments if moment > now]
        if not upcoming or min(upcoming) > until_ms:
            return observers
        fake.advance_clock(min(upcoming) - now)
        at = fake.now_ms()
        for user_id, observer in observers.items():
            observer.observe(read(fake.snapshot(user_id), at))
