"""A generated music catalogue: artists, albums, tracks, playlists and podcast shows.

Everything is derived from one seed, so two fakes with the same seed serve identical ids.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

_WORDS = (
    "Velvet Harbor Neon Echo Paper Lantern Copper Tide Silver Static Hollow Pine Amber Signal "
    "Glass River Midnight Orchard Paloma Cinder Violet Drift Marble Canyon Lunar Garden Rust "
    "Meadow Saffron Atlas Ember Quiet Satellite Cobalt Wild Honey Northern Window Coral Shadow "
    "Golden Hour Faded Letter Ocean Parade Winter Engine Crimson Field Tender Machine Blue Motel"
).split()

_GENRES = ("indie", "synth-pop", "jazz", "folk", "techno", "soul", "post-rock", "hip-hop")


def spotify_id(rng: random.Random) -> str:
    """A 22-character base-62 id, the shape of Spotify's ids."""
    return "".join(rng.choice(_BASE62) for _ in range(22))


def _title(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


@dataclass(frozen=True, slots=True)
class Artist:
    id: str
    name: str
    genre: str

    @property
    def uri(self) -> str:
        return f"spotify:artist:{self.id}"


@dataclass(frozen=True, slots=True)
class Album:
    id: str
    name: str
    artist_id: str
    album_type: str
    release_date: str
    track_ids: tuple[str, ...]

    @property
    def uri(self) -> str:
        return f"spotify:album:{self.id}"


@dataclass(frozen=True, slots=True)
class Track:
    id: str
    name: str
    album_id: str
    artist_ids: tuple[str, ...]
    duration_ms: int
    track_number: int
    explicit: bool
    isrc: str

    @property
    def uri(self) -> str:
        return f"spotify:track:{self.id}"


@dataclass(frozen=True, slots=True)
class Playlist:
    id: str
    name: str
    track_ids: tuple[str, ...]

    @property
    def uri(self) -> str:
        return f"spotify:playlist:{self.id}"


@dataclass(frozen=True, slots=True)
class Show:
    id: str
    name: str
    publisher: str
    episode_ids: tuple[str, ...]

    @property
    def uri(self) -> str:
        return f"spotify:show:{self.id}"


@dataclass(frozen=True, slots=True)
class Episode:
    id: str
    name: str
    show_id: str
    duration_ms: int
    release_date: str

    @property
    def uri(self) -> str:
        return f"spotify:episode:{self.id}"


@dataclass(frozen=True, slots=True)
class CatalogueSize:
    """How much to generate; the defaults give a few thousand tracks."""

    artists: int = 120
    albums_per_artist: tuple[int, int] = (1, 4)
    tracks_per_album: tuple[int, int] = (5, 14)
    playlists: int = 60
    playlist_length: tuple[int, int] = (12, 60)
    shows: int = 6
    episodes_per_show: tuple[int, int] = (5, 15)


@dataclass(slots=True)
class Catalogue:
    artists: dict[str, Artist] = field(default_factory=dict)
    albums: dict[str, Album] = field(default_factory=dict)
    tracks: dict[str, Track] = field(default_factory=dict)
    playlists: dict[str, Playlist] = field(default_factory=dict)
    shows: dict[str, Show] = field(default_factory=dict)
    episodes: dict[str, Episode] = field(default_factory=dict)

    def context_track_ids(self, context_uri: str) -> tuple[str, ...]:
        """The tracks an album or playlist context plays, in order; KeyError when unknown."""
        kind, _, context_id = context_uri.removeprefix("spotify:").partition(":")
        if kind == "album":
            return self.albums[context_id].track_ids
        if kind == "playlist":
            return self.playlists[context_id].track_ids
        raise KeyError(context_uri)

    def duration_ms(self, item_id: str) -> int:
        if item_id in self.tracks:
            return self.tracks[item_id].duration_ms
        return self.episodes[item_id].duration_ms


def _release_date(rng: random.Random, first_year: int) -> str:
    return f"{rng.randint(first_year, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


# The short catalogue's tracks last 40 s to 2.5 min: many plays a minute for fidelity tests.
SHORT_TRACK_MIN_MS = 40_000
SHORT_TRACK_SPAN_MS = 110_000


def _track_duration_ms(rng: random.Random, short: bool) -> int:
    # Popular music clusters around 3-4 minutes with a long tail both ways.
    seconds = max(45.0, min(rng.lognormvariate(5.35, 0.3), 900.0))
    duration = int(seconds * 1000) + rng.randrange(1000)
    if short:
        # The same draws, folded into the short range: the ids stay those of the seed.
        return SHORT_TRACK_MIN_MS + duration % SHORT_TRACK_SPAN_MS
    return duration


def generate_catalogue(
    seed: int, size: CatalogueSize | None = None, *, short_tracks: bool = False
) -> Catalogue:
    """Build the catalogue for a seed; the same seed always gives the same catalogue.
    ``short_tracks`` keeps every id and shortens the tracks to 40-150 s."""
    size = size or CatalogueSize()
    rng = random.Random(f"catalogue:{seed}")
    catalogue = Catalogue()
    for _ in range(size.artists):
        artist = Artist(id=spotify_id(rng), name=_title(rng, 2), genre=rng.choice(_GENRES))
        catalogue.artists[artist.id] = artist
        for _ in range(rng.randint(*size.albums_per_artist)):
            album_id = spotify_id(rng)
            count = rng.randint(*size.tracks_per_album)
            album_type = "single" if count <= 6 and rng.random() < 0.5 else "album"
            track_ids = []
            for number in range(1, count + 1):
                artist_ids: tuple[str, ...] = (artist.id,)
                if rng.random() < 0.1:
                    featured = rng.choice(list(catalogue.artists))
                    if featured != artist.id:
                        artist_ids = (artist.id, featured)
                track = Track(
                    id=spotify_id(rng),
                    name=_title(rng, rng.randint(1, 4)),
                    album_id=album_id,
                    artist_ids=artist_ids,
                    duration_ms=_track_duration_ms(rng, short_tracks),
                    track_number=number,
                    explicit=rng.random() < 0.15,
                    isrc=f"QZ{rng.randrange(10**10):010d}",
                )
                catalogue.tracks[track.id] = track
                track_ids.append(track.id)
            catalogue.albums[album_id] = Album(
                id=album_id,
                name=_title(rng, rng.randint(1, 3)),
                artist_id=artist.id,
                album_type=album_type,
                release_date=_release_date(rng, 1965),
                track_ids=tuple(track_ids),
            )
    all_tracks = list(catalogue.tracks)
    for _ in range(size.playlists):
        length = min(rng.randint(*size.playlist_length), len(all_tracks))
        playlist = Playlist(
            id=spotify_id(rng), name=_title(rng, 2), track_ids=tuple(rng.sample(all_tracks, length))
        )
        catalogue.playlists[playlist.id] = playlist
    for _ in range(size.shows):
        show_id = spotify_id(rng)
        episode_ids = []
        for _ in range(rng.randint(*size.episodes_per_show)):
            episode = Episode(
                id=spotify_id(rng),
                name=_title(rng, 4),
                show_id=show_id,
                duration_ms=rng.randint(15, 90) * 60_000 + rng.randrange(60_000),
                release_date=_release_date(rng, 2018),
            )
            catalogue.episodes[episode.id] = episode
            episode_ids.append(episode.id)
        catalogue.shows[show_id] = Show(
            id=show_id,
            name=_title(rng, 3),
            publisher=_title(rng, 2),
            episode_ids=tuple(episode_ids),
        )
    return catalogue
