"""The watcher: polls each owned user's Spotify player and publishes their playback events."""
