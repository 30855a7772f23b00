"""Spotify's JSON shapes (TrackObject, CurrentlyPlayingContextObject, ...) for the fake's state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backbeat.spotify_fake.domain.catalogue import Catalogue
from backbeat.spotify_fake.domain.player import Device, Play, PlayerSnapshot
from backbeat.spotify_fake.fake import FakeUser

Json = dict[str, Any]

_MARKETS = ["SE", "DE", "GB", "US"]
_OPEN = "https://open.spotify.com"


def spotify_timestamp(ms: int) -> str:
    """Spotify's ISO 8601 form: UTC, milliseconds, `Z`."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class SpotifyShapes:
    """Renders catalogue objects once and reuses them: they never change for a seed."""

    def __init__(self, catalogue: Catalogue, public_url: str) -> None:
        self._catalogue = catalogue
        self._api = public_url.rstrip("/") + "/v1"
        self._tracks: dict[str, Json] = {}
        self._episodes: dict[str, Json] = {}

    def artist(self, artist_id: str) -> Json:
        artist = self._catalogue.artists[artist_id]
        return {
            "external_urls": {"spotify": f"{_OPEN}/artist/{artist.id}"},
            "href": f"{self._api}/artists/{artist.id}",
            "id": artist.id,
            "name": artist.name,
            "type": "artist",
            "uri": artist.uri,
        }

    def album(self, album_id: str) -> Json:
        album = self._catalogue.albums[album_id]
        return {
            "album_type": album.album_type,
            "total_tracks": len(album.track_ids),
            "available_markets": _MARKETS,
            "external_urls": {"spotify": f"{_OPEN}/album/{album.id}"},
            "href": f"{self._api}/albums/{album.id}",
            "id": album.id,
            "images": [],
            "name": album.name,
            "release_date": album.release_date,
            "release_date_precision": "day",
            "type": "album",
            "uri": album.uri,
            "artists": [self.artist(album.artist_id)],
        }

    def track(self, track_id: str) -> Json:
        cached = self._tracks.get(track_id)
        if cached is not None:
            return cached
        track = self._catalogue.tracks[track_id]
        rendered = {
            "album": self.album(track.album_id),
            "artists": [self.artist(artist_id) for artist_id in track.artist_ids],
            "available_markets": _MARKETS,
            "disc_number": 1,
            "duration_ms": track.duration_ms,
            "explicit": track.explicit,
            "external_ids": {"isrc": track.isrc},
            "external_urls": {"spotify": f"{_OPEN}/track/{track.id}"},
            "href": f"{self._api}/tracks/{track.id}",
            "id": track.id,
            "is_local": False,
            "name": track.name,
            "popularity": 50,
            "preview_url": None,
            "track_number": track.track_number,
            "type": "track",
            "uri": track.uri,
        }
        self._tracks[track_id] = rendered
        return rendered

    def show(self, show_id: str) -> Json:
        show = self._catalogue.shows[show_id]
        return {
            "available_markets": _MARKETS,
            "copyrights": [],
            "description": f"{show.name}, from {show.publisher}.",
            "html_description": f"<p>{show.name}, from {show.publisher}.</p>",
            "explicit": False,
            "external_urls": {"spotify": f"{_OPEN}/show/{show.id}"},
            "href": f"{self._api}/shows/{show.id}",
            "id": show.id,
            "images": [],
            "is_externally_hosted": False,
            "languages": ["en"],
            "media_type": "audio",
            "name": show.name,
            "publisher": show.publisher,
            "total_episodes": len(show.episode_ids),
            "type": "show",
            "uri": show.uri,
        }

    def episode(self, episode_id: str) -> Json:
        cached = self._episodes.get(episode_id)
        if cached is not None:
            return cached
        episode = self._catalogue.episodes[episode_id]
        rendered = {
            "audio_preview_url": None,
            "description": f"{episode.name}.",
            "html_description": f"<p>{episode.name}.</p>",
            "duration_ms": episode.duration_ms,
            "explicit": False,
            "external_urls": {"spotify": f"{_OPEN}/episode/{episode.id}"},
            "href": f"{self._api}/episodes/{episode.id}",
            "id": episode.id,
            "images": [],
            "is_externally_hosted": False,
            "is_playable": True,
            "language": "en",
            "languages": ["en"],
            "name": episode.name,
            "release_date": episode.release_date,
            "release_date_precision": "day",
            "type": "episode",
            "uri": episode.uri,
            "show": self.show(episode.show_id),
        }
        self._episodes[episode_id] = rendered
        return rendered

    def context(self, context_uri: str | None) -> Json | None:
        if context_uri is None:
            return None
        kind, _, context_id = context_uri.removeprefix("spotify:").partition(":")
        return {
            "type": kind,
            "href": f"{self._api}/{kind}s/{context_id}",
            "external_urls": {"spotify": f"{_OPEN}/{kind}/{context_id}"},
            "uri": context_uri,
        }

    @staticmethod
    def device(device: Device) -> Json:
        return {
            "id": device.id,
            "is_active": True,
            "is_private_session": False,
            "is_restricted": False,
            "name": device.name,
            "type": device.type,
            "volume_percent": device.volume_percent,
            "supports_volume": True,
        }

    def currently_playing(self, snapshot: PlayerSnapshot, additional_types: set[str]) -> Json:
        """CurrentlyPlayingObject."""
        if snapshot.kind == "track" and snapshot.item_id is not None:
            item: Json | None = self.track(snapshot.item_id)
        elif snapshot.kind == "episode" and snapshot.item_id is not None:
            # Spotify's quirk: without additional_types=episode an episode comes back as
            # `item: null`, with currently_playing_type still saying "episode".
            item = self.episode(snapshot.item_id) if "episode" in additional_types else None
        else:
            item = None
        return {
            "timestamp": snapshot.timestamp_ms,
            "context": None if snapshot.kind == "ad" else self.context(snapshot.context_uri),
            "progress_ms": snapshot.progress_ms,
            "item": item,
            "currently_playing_type": snapshot.kind,
            "actions": {
                "disallows": {"pausing": True} if not snapshot.is_playing else {"resuming": True}
            },
            "is_playing": snapshot.is_playing,
        }

    def playback_state(self, snapshot: PlayerSnapshot, additional_types: set[str]) -> Json:
        """CurrentlyPlayingContextObject: the currently playing object plus device and modes."""
        state = self.currently_playing(snapshot, additional_types)
        state["device"] = self.device(snapshot.device)
        state["repeat_state"] = snapshot.repeat_state
        state["shuffle_state"] = snapshot.shuffle_state
        state["smart_shuffle"] = False
        return state

    def play_history(self, play: Play) -> Json:
        """PlayHistoryObject; `played_at` is when the play ended."""
        assert play.ended_at_ms is not None
        return {
            "track": self.track(play.item_id),
            "played_at": spotify_timestamp(play.ended_at_ms),
            "context": self.context(play.context_uri),
        }

    def private_user(self, user: FakeUser, scopes: frozenset[str]) -> Json:
        """PrivateUserObject; the private fields only with the scopes that unlock them."""
        body: Json = {
            "display_name": user.display_name,
            "external_urls": {"spotify": f"{_OPEN}/user/{user.id}"},
            "followers": {"href": None, "total": 0},
            "href": f"{self._api}/users/{user.id}",
            "id": user.id,
            "images": [],
            "type": "user",
            "uri": f"spotify:user:{user.id}",
        }
        if "user-read-private" in scopes:
            body["country"] = user.country
            body["product"] = user.product
            body["explicit_content"] = {"filter_enabled": False, "filter_locked": False}
        if "user-read-email" in scopes:
            body["email"] = user.email
        return body
