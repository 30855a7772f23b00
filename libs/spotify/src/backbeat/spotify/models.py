"""Typed views of Spotify's JSON. Unknown fields are kept, not rejected: Spotify adds fields
without notice, and a new field must never break playback tracking."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, SecretStr, Tag

# Values Spotify documents for `currently_playing_type`; any other string is accepted too.
CurrentlyPlayingType = Literal["track", "episode", "ad", "unknown"]


class SpotifyObject(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ExternalUrls(SpotifyObject):
    spotify: str | None = None


class Image(SpotifyObject):
    url: str
    height: int | None = None
    width: int | None = None


class SimplifiedArtist(SpotifyObject):
    id: str | None = None
    name: str
    uri: str | None = None
    href: str | None = None
    type: Literal["artist"] = "artist"


class SimplifiedAlbum(SpotifyObject):
    id: str | None = None
    name: str
    uri: str | None = None
    album_type: str | None = None
    release_date: str | None = None
    total_tracks: int | None = None
    images: list[Image] = Field(default_factory=list)
    artists: list[SimplifiedArtist] = Field(default_factory=list)


class Track(SpotifyObject):
    type: Literal["track"] = "track"
    # Local files have no Spotify id.
    id: str | None = None
    name: str
    uri: str
    duration_ms: int
    artists: list[SimplifiedArtist] = Field(default_factory=list)
    album: SimplifiedAlbum | None = None
    explicit: bool = False
    is_local: bool = False
    track_number: int | None = None
    disc_number: int | None = None


class Show(SpotifyObject):
    id: str
    name: str
    uri: str
    publisher: str | None = None


class Episode(SpotifyObject):
    type: Literal["episode"] = "episode"
    id: str
    name: str
    uri: str
    duration_ms: int
    show: Show | None = None
    release_date: str | None = None


class UnknownItem(SpotifyObject):
    """An item of a type this library does not know yet."""

    type: str


def _item_kind(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in ("track", "episode") else "other"


PlayableItem = Annotated[
    Annotated[Track, Tag("track")]
    | Annotated[Episode, Tag("episode")]
    | Annotated[UnknownItem, Tag("other")],
    Discriminator(_item_kind),
]


class Device(SpotifyObject):
    id: str | None = None
    name: str
    type: str
    is_active: bool = False
    is_private_session: bool = False
    is_restricted: bool = False
    volume_percent: int | None = None
    supports_volume: bool | None = None


class PlaybackContext(SpotifyObject):
    """Where the item plays from: an album, playlist, artist or show."""

    type: str
    uri: str
    href: str | None = None
    external_urls: ExternalUrls | None = None


class CurrentlyPlaying(SpotifyObject):
    """`GET /v1/me/player/currently-playing`. `item` is None for ads, for unknown items and,
    unless episodes were asked for, for podcast episodes."""

    is_playing: bool
    currently_playing_type: str
    item: PlayableItem | None = None
    progress_ms: int | None = None
    timestamp: int
    context: PlaybackContext | None = None
    actions: dict[str, Any] | None = None

    @property
    def track(self) -> Track | None:
        return self.item if isinstance(self.item, Track) else None

    @property
    def episode(self) -> Episode | None:
        return self.item if isinstance(self.item, Episode) else None


class PlaybackState(CurrentlyPlaying):
    """`GET /v1/me/player`: the currently playing object plus the device and play modes."""

    device: Device
    repeat_state: str = "off"
    shuffle_state: bool = False


class PlayHistoryItem(SpotifyObject):
    track: Track
    played_at: datetime
    context: PlaybackContext | None = None


class Cursors(SpotifyObject):
    after: str | None = None
    before: str | None = None


class RecentlyPlayed(SpotifyObject):
    """A page of `GET /v1/me/player/recently-played`, newest first."""

    items: list[PlayHistoryItem]
    next: str | None = None
    cursors: Cursors | None = None
    limit: int | None = None
    href: str | None = None
    total: int | None = None


class UserProfile(SpotifyObject):
    """`GET /v1/me`. country, product and email appear only with the scopes that unlock them."""

    id: str
    display_name: str | None = None
    uri: str | None = None
    country: str | None = None
    product: str | None = None
    email: str | None = None
    images: list[Image] = Field(default_factory=list)


class TokenGrant(BaseModel):
    """A token endpoint answer. Tokens are SecretStr so they never show in a repr or log.

    `refresh_token` is None when Spotify sent none (usual on refresh): keep the one you have.
    """

    # Unknown fields are dropped here: nothing unvetted from a token answer ends up in a repr.
    model_config = ConfigDict(extra="ignore", frozen=True)

    access_token: SecretStr
    token_type: str
    expires_in: int
    scope: str = ""
    refresh_token: SecretStr | None = None

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())

    def expires_at(self, received_at: datetime) -> datetime:
        """When the access token stops working, counted from when the answer arrived."""
        return received_at + timedelta(seconds=self.expires_in)
