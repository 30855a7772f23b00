"""Brings playback's database to the newest schema: ``python -m backbeat.playback.store.migrate``.

Reads ``BACKBEAT_PLAYBACK_DATABASE_URL`` through the settings; safe to run again and from
several processes at once.
"""

from __future__ import annotations

from pathlib import Path

from backbeat.playback.settings import PlaybackSettings
from backbeat.runtime.migrations import ServiceMigrations

MIGRATIONS = ServiceMigrations(
    "playback", Path(__file__).with_name("migrations"), lambda: PlaybackSettings().database_url
)
upgrade = MIGRATIONS.upgrade

if __name__ == "__main__":
    MIGRATIONS.command_line()
