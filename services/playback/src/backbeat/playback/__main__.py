"""Runs the playback service: ``python -m backbeat.playback`` (127.0.0.1:8003 by default)."""

from __future__ import annotations

from backbeat.playback.app import create_app
from backbeat.playback.settings import PlaybackSettings
from backbeat.runtime.serve import serve


def main() -> None:
    settings = PlaybackSettings()
    serve(create_app(settings), settings, "playback")


if __name__ == "__main__":
    main()
