"""Backbeat's playback service: turns each user's playback events into now playing, listening
history and statistics, applying every event exactly once."""
