"""``python -m backbeat.watcher`` runs the watcher with its health and metrics endpoints."""

from backbeat.runtime.serve import serve
from backbeat.watcher.app import create_app
from backbeat.watcher.settings import WatcherSettings

if __name__ == "__main__":
    settings = WatcherSettings()
    serve(create_app(settings), settings, "watcher")
