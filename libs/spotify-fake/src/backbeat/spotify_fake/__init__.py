"""A fake of the parts of Spotify that Backbeat uses: accounts service, Web API player
endpoints, a control API, simulated listeners on a drivable clock, and their ground truth."""

from backbeat.spotify_fake.app import create_app
from backbeat.spotify_fake.clock import Clock, ManualClock, RealClock
from backbeat.spotify_fake.config import FakeConfig
from backbeat.spotify_fake.fake import FakeSpotify

__all__ = ["Clock", "FakeConfig", "FakeSpotify", "ManualClock", "RealClock", "create_app"]
