"""Reads a user's player and recently-played list from Spotify, as domain values."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from backbeat.events.playback import Artist, Device, PlaybackContext, Track
from backbeat.spotify import Episode, PlaybackState, SpotifyClient
from backbeat.spotify import Track as SpotifyTrack
from backbeat.watcher.domain.snapshot import PlaybackSnapshot, RecentPlay

# Spotify's page size limit for recently-played; a gap with more plays than a few pages
# (hours of skipping) is cut at the newest of them.
_PAGE = 50
_MAX_PAGES = 4
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PlaybackReader(Protocol):
    async def playback(self, access_token: str) -> PlaybackSnapshot: ...

    async def plays_after(self, access_token: str, after_ms: int) -> list[RecentPlay]:
        """Plays that ended after ``after_ms``, oldest first."""
        ...


def as_track(item: SpotifyTrack | Episode) -> Track:
    if isinstance(item, Episode):
        show = item.show
        return Track(
            id=item.id,
            uri=item.uri,
            name=item.name,
            artists=[Artist(id=show.id, name=show.name)] if show else [],
            album_id=show.id if show else None,
            album_name=show.name if show else None,
            duration_ms=item.duration_ms,
        )
    return Track(
        # Local files have no Spotify id; their uri is still unique.
        id=item.id or item.uri,
        uri=item.uri,
        name=item.name,
        artists=[Artist(id=a.id or a.uri or a.name, name=a.name) for a in item.artists],
        album_id=item.album.id if item.album else None,
        album_name=item.album.name if item.album else None,
        duration_ms=item.duration_ms,
    )


def as_snapshot(state: PlaybackState | None, observed_at_ms: int) -> PlaybackSnapshot:
    if state is None:
        return PlaybackSnapshot.nothing_playing(observed_at_ms)
    item = state.track or state.episode
    return PlaybackSnapshot(
        observed_at_ms=observed_at_ms,
        active=True,
        track=as_track(item) if item is not None else None,
        is_playing=state.is_playing,
        progress_ms=state.progress_ms,
        device=Device(id=state.device.id, name=state.device.name, type=state.device.type),
        context=(
            PlaybackContext(type=state.context.type, uri=state.context.uri)
            if state.context is not None
            else None
        ),
        spotify_timestamp_ms=state.timestamp,
    )


class SpotifyPlaybackReader:
    """``wall_ms`` stamps each snapshot with the moment its answer arrived."""

    def __init__(self, client: SpotifyClient, wall_ms: Callable[[], int]) -> None:
        self._client = client
        self._wall_ms = wall_ms

    async def playback(self, access_token: str) -> PlaybackSnapshot:
        state = await self._client.playback_state(access_token)
        return as_snapshot(state, self._wall_ms())

    async def plays_after(self, access_token: str, after_ms: int) -> list[RecentPlay]:
        plays: list[RecentPlay] = []
        cursor = after_ms
        for _ in range(_MAX_PAGES):
            page = await self._client.recently_played(access_token, limit=_PAGE, after=cursor)
            for item in page.items:
                played_at_ms = (item.played_at - _EPOCH) // timedelta(milliseconds=1)
                context = (
                    PlaybackContext(type=item.context.type, uri=item.context.uri)
                    if item.context is not None
                    else None
                )
                plays.append(RecentPlay(as_track(item.track), played_at_ms, context))
            if len(page.items) < _PAGE:
                break
            cursor = max(p.played_at_ms for p in plays)
        plays.sort(key=lambda p: p.played_at_ms)
        return plays
