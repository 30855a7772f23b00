"""The fake's service layer: users, their players and listeners, accounts, limits and faults.

The HTTP routes call into `FakeSpotify`; it reads the clock once per call and brings the
user's simulated player up to that instant before answering.
"""

from __future__ import annotations

import random
import secrets
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from backbeat.spotify_fake.clock import Clock, ManualClock, RealClock
from backbeat.spotify_fake.config import FakeConfig
from backbeat.spotify_fake.domain.accounts import AccountsPolicy, AccountsService
from backbeat.spotify_fake.domain.catalogue import generate_catalogue
from backbeat.spotify_fake.domain.faults import FaultPlan
from backbeat.spotify_fake.domain.listener import (
    FREE_TIER_AD_EVERY_TRACKS,
    Listener,
    devices_for,
)
from backbeat.spotify_fake.domain.player import Device, ItemKind, Play, Player, PlayerSnapshot
from backbeat.spotify_fake.domain.rate_limit import RollingWindowLimit
from backbeat.spotify_fake.domain.script import ScriptedListener, ScriptStep

Product = Literal["premium", "free"]

# Spotify lists a track in recently-played once it has played for more than 30 seconds.
RECENTLY_PLAYED_MIN_MS = 30_000

_FIRST_NAMES = (
    "Ada Bo Cleo Dev Esme Finn Gia Hugo Iris Jun Kai Lena Milo Nora Oskar Pia Rui Sana".split()
)


class UnknownUser(KeyError):
    """No user with that id exists in the fake."""


class UnknownDevice(KeyError):
    """The user has no device with that id."""


class UnknownItem(KeyError):
    """No track or episode with that id exists in the catalogue."""


@dataclass(slots=True)
class FakeUser:
    id: str
    display_name: str
    product: Product
    country: str
    email: str
    player: Player
    # What drives the player over time: a simulated listener, a script, or nobody (the
    # player changes only through the API and the control API).
    listener: Listener | ScriptedListener | None = None

    def device(self, device_id: str) -> Device:
        for device in self.player.devices:
            if device.id == device_id:
                return device
        raise UnknownDevice(device_id)


@dataclass(slots=True)
class RequestCounts:
    """Web API calls per app and per user, token calls per app, and refusals."""

    by_client: Counter[str] = field(default_factory=Counter)
    by_user: Counter[str] = field(default_factory=Counter)
    by_endpoint: Counter[str] = field(default_factory=Counter)
    token_calls_by_client: Counter[str] = field(default_factory=Counter)
    rate_limited_by_client: Counter[str] = field(default_factory=Counter)


class FakeSpotify:
    """All state of one fake Spotify."""

    def __init__(
        self,
        config: FakeConfig,
        *,
        clock: Clock | None = None,
        new_secret: Callable[[], str] | None = None,
    ) -> None:
        self.config = config
        if clock is None:
            clock = ManualClock(config.start_ms) if config.clock == "manual" else RealClock()
        self.clock = clock
        self.catalogue = generate_catalogue(config.seed, short_tracks=config.catalogue == "short")
        self.accounts = AccountsService(
            policy=AccountsPolicy(
                access_token_ttl_ms=config.access_token_ttl_s * 1000,
                refresh_token_lifetime_ms=config.refresh_token_lifetime_s * 1000,
                code_ttl_ms=config.authorization_code_ttl_s * 1000,
                rotate_refresh_tokens=config.rotate_refresh_tokens,
            ),
            new_secret=new_secret or (lambda: secrets.token_urlsafe(32)),
        )
        self.rate_limit = RollingWindowLimit(
            limit=config.rate_limit, window_ms=int(config.rate_window_s * 1000)
        )
        self.faults = FaultPlan()
        self.counts = RequestCounts()
        self.users: dict[str, FakeUser] = {}
        self._created_users = 0
        self._simulated_users = 0
        for spec in config.apps:
            client_id, client_secret, redirect_uri = spec.split(":", 2)
            self.accounts.register_app(
                (redirect_uri,), client_id=client_id, client_secret=client_secret
            )
        self.start_simulation(count=config.listeners)

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def advance_clock(self, ms: int) -> int:
        self.clock.advance(ms)
        return self.clock.now_ms()

    # -- users ---------------------------------------------------------------------------

    def create_user(
        self,
        *,
        display_name: str | None = None,
        product: Product = "premium",
        country: str = "SE",
        user_id: str | None = None,
    ) -> FakeUser:
        if user_id is None:
            self._created_users += 1
            user_id = f"user{self._created_users:04d}"
        if user_id in self.users:
            raise ValueError(f"user {user_id} already exists")
        rng = random.Random(f"profile:{self.config.seed}:{user_id}")
        name = display_name or f"{rng.choice(_FIRST_NAMES)} {user_id}"
        player = Player(
            self.catalogue,
            devices_for(self.config.seed, user_id),
            ad_every_tracks=FREE_TIER_AD_EVERY_TRACKS if product == "free" else None,
        )
        user = FakeUser(
            id=user_id,
            display_name=name,
            product=product,
            country=country,
            email=f"{user_id}@example.com",
            player=player,
        )
        self.users[user_id] = user
        return user

    def user(self, user_id: str) -> FakeUser:
        try:
            return self.users[user_id]
        except KeyError:
            raise UnknownUser(user_id) from None

    def revoke(self, user_id: str, client_id: str | None = None) -> int:
        self.user(user_id)
        return self.accounts.revoke(user_id, client_id)

    # -- players -------------------------------------------------------------------------

    def player_now(self, user: FakeUser) -> tuple[Player, int]:
        """The user's player brought up to the clock's current instant."""
        now = self.clock.now_ms()
        if user.listener is not None:
            user.listener.advance_to(now)
        else:
            user.player.settle(now)
        return user.player, now

    def snapshot(self, user_id: str) -> PlayerSnapshot | None:
        player, now = self.player_now(self.user(user_id))
        return player.snapshot(now)

    def ground_truth(self, user_id: str) -> list[Play]:
        player, now = self.player_now(self.user(user_id))
        return player.ground_truth(now)

    def recently_played(self, user_id: str) -> list[Play]:
        """Finished track plays long enough to be listed, oldest first."""
        player, _ = self.player_now(self.user(user_id))
        return [
            play
            for play in player.plays
            if play.item_type == "track" and play.listened_ms > RECENTLY_PLAYED_MIN_MS
        ]

    def set_playback(
        self,
        user_id: str,
        *,
        item_id: str | None,
        kind: ItemKind,
        is_playing: bool,
        progress_ms: int,
        device_id: str | None,
        context_uri: str | None,
    ) -> PlayerSnapshot | None:
        """Script the player; a simulated user stops being simulated."""
        user = self.user(user_id)
        player, now = self.player_now(user)
        user.listener = None
        if kind != "ad" and item_id is None:
            player.stop(now)
            return None
        if item_id is not None and kind == "track" and item_id not in self.catalogue.tracks:
            raise UnknownItem(item_id)
        if item_id is not None and kind == "episode" and item_id not in self.catalogue.episodes:
            raise UnknownItem(item_id)
        if device_id is not None:
            device = user.device(device_id)
        else:
            device = player.device or player.devices[0]
        player.set_item(
            now,
            item_id=item_id,
            kind=kind,
            is_playing=is_playing,
            progress_ms=progress_ms,
            device=device,
            context_uri=context_uri,
        )
        return player.snapshot(now)

    def script(self, user_id: str, steps: list[ScriptStep]) -> int:
        """The user follows ``steps`` from now (replacing any simulation or earlier script);
        returns the instant the script's times count from."""
        user = self.user(user_id)
        for step in steps:
            for item_id in step.track_ids:
                if item_id not in self.catalogue.tracks:
                    raise UnknownItem(item_id)
        player, now = self.player_now(user)
        user.listener = ScriptedListener(player, steps, now)
        user.listener.advance_to(now)
        return now

    # -- simulation ----------------------------------------------------------------------

    def start_simulation(self, *, count: int = 0, user_ids: Iterable[str] = ()) -> list[str]:
        """Create `count` simulated users and simulate the named existing ones from now."""
        named = [self.user(user_id).id for user_id in user_ids]
        started = []
        now = self.clock.now_ms()
        for _ in range(count):
            self._simulated_users += 1
            user_id = f"sim{self._simulated_users:04d}"
            rng = random.Random(f"product:{self.config.seed}:{user_id}")
            product: Product = (
                "free" if rng.random() < self.config.free_listener_share else "premium"
            )
            self.create_user(user_id=user_id, product=product)
            started.append(user_id)
        started.extend(named)
        for user_id in started:
            user = self.user(user_id)
            if user.listener is None:
                user.listener = Listener(
                    user_id, self.config.seed, self.catalogue, user.player, now
                )
        return started

    def stop_simulation(self, user_ids: Iterable[str] | None = None) -> list[str]:
        """Simulated users close Spotify now and stay scripted (or idle) from then on."""
        now = self.clock.now_ms()
        names = list(self.users) if user_ids is None else list(user_ids)
        stopped = []
        for user_id in names:
            user = self.user(user_id)
            if user.listener is not None:
                user.listener.halt(now)
                user.listener = None
                stopped.append(user_id)
        return stopped

    def simulated_user_ids(self) -> list[str]:
        return [user.id for user in self.users.values() if isinstance(user.listener, Listener)]
