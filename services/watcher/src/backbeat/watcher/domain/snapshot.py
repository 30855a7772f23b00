"""What one poll of a user's player saw (`PlaybackSnapshot`), and one entry of Spotify's
recently-played list (`RecentPlay`): the plain values change detection works on.

Times are Unix milliseconds of the watcher's wall clock (``observed_at_ms``) or of Spotify's
(``spotify_timestamp_ms``, ``played_at_ms``). Episodes are carried as a `Track` whose uri is
``spotify:episode:...`` and whose album is the show.
"""

from __future__ import annotations

from dataclasses import dataclass

from backbeat.events.playback import Device, PlaybackContext, Track


@dataclass(frozen=True, slots=True)
class PlaybackSnapshot:
    """The player at one instant, as Spotify reported it.

    ``active`` is False when Spotify reports no active device (its 204): nothing plays and
    there is nothing more to say. An active player may have no ``track`` (an ad, or an item
    of a kind the watcher does not follow).
    """

    observed_at_ms: int
    active: bool = True
    track: Track | None = None
    is_playing: bool = False
    progress_ms: int | None = None
    device: Device | None = None
    context: PlaybackContext | None = None
    # Spotify's own `timestamp`: when the playback state last changed (play, pause, skip,
    # seek, new item).
    spotify_timestamp_ms: int | None = None

    @classmethod
    def nothing_playing(cls, observed_at_ms: int) -> PlaybackSnapshot:
        return cls(observed_at_ms=observed_at_ms, active=False)

    @property
    def progress(self) -> int:
        return self.progress_ms or 0

    @property
    def remaining_ms(self) -> int | None:
        """What is left of the track, or None without a track."""
        if self.track is None:
            return None
        return max(0, self.track.duration_ms - self.progress)

    @property
    def cued(self) -> bool:
        """A track sits paused at its very start and has not been heard: Spotify parks a
        finished context like this. It becomes a play only once it plays."""
        return self.track is not None and not self.is_playing and self.progress == 0


@dataclass(frozen=True, slots=True)
class RecentPlay:
    """One item of recently-played: a track play that ended at ``played_at_ms``."""

    track: Track
    played_at_ms: int
    context: PlaybackContext | None = None
