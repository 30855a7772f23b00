"""Builds one user's playback events on a clock that the test moves, as the watcher would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backbeat.events.playback import (
    Artist,
    Device,
    PlaybackContext,
    PlaybackEventData,
    PlaybackEventKind,
    Track,
)
from backbeat.playback.domain.projection import IncomingEvent

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PHONE = Device(id="phone-1", name="Phone", type="Smartphone")


def track(n: int, duration_ms: int = 200_000, artist: int | None = None) -> Track:
    a = n if artist is None else artist
    return Track(
        id=f"track-{n}",
        uri=f"spotify:track:track-{n}",
        name=f"Song {n}",
        artists=[Artist(id=f"artist-{a}", name=f"Artist {a}")],
        album_id=f"album-{n}",
        album_name=f"Album {n}",
        duration_ms=duration_ms,
    )


class Listener:
    """A user's player; each method emits the event the watcher would publish for it."""

    def __init__(self, user_id: str, start: datetime = T0) -> None:
        self.user_id = user_id
        self.now = start
        self.sequence = 0
        self.events: list[IncomingEvent] = []
        self.current: Track | None = None

    def wait(self, seconds: float) -> Listener:
        self.now += timedelta(seconds=seconds)
        return self

    def _emit(
        self,
        kind: PlaybackEventKind,
        *,
        progress_ms: int | None,
        is_playing: bool,
        listened_ms: int | None = None,
    ) -> Listener:
        self.sequence += 1
        data = PlaybackEventData(
            kind=kind,
            user_id=self.user_id,
            sequence=self.sequence,
            track=self.current,
            progress_ms=progress_ms,
            is_playing=is_playing,
            device=PHONE,
            context=PlaybackContext(type="playlist", uri="spotify:playlist:mix"),
            listened_ms=listened_ms,
            observed_at=self.now,
        )
        self.events.append(IncomingEvent(f"{self.user_id}-{self.sequence}", data))
        return self

    def start(self, t: Track, progress_ms: int = 0, *, playing: bool = True) -> Listener:
        self.current = t
        return self._emit(
            PlaybackEventKind.TRACK_STARTED, progress_ms=progress_ms, is_playing=playing
        )

    def pause(self, progress_ms: int) -> Listener:
        return self._emit(PlaybackEventKind.PAUSED, progress_ms=progress_ms, is_playing=False)

    def resume(self, progress_ms: int) -> Listener:
        return self._emit(PlaybackEventKind.RESUMED, progress_ms=progress_ms, is_playing=True)

    def seek(self, progress_ms: int, *, playing: bool = True) -> Listener:
        return self._emit(PlaybackEventKind.SEEKED, progress_ms=progress_ms, is_playing=playing)

    def end(self, listened_ms: int | None = None) -> Listener:
        assert self.current is not None
        duration = self.current.duration_ms
        return self._emit(
            PlaybackEventKind.TRACK_ENDED,
            progress_ms=duration,
            is_playing=False,
            listened_ms=listened_ms,
        )

    def stop(self) -> Listener:
        self._emit(PlaybackEventKind.STOPPED, progress_ms=None, is_playing=False)
        self.current = None
        return self

    def listen_through(self, t: Track) -> Listener:
        """Start ``t``, hear all of it, and let it end."""
        return self.start(t).wait(t.duration_ms / 1000).end()
