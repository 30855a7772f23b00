"""The watcher's outbound I/O: Spotify's Web API (spotify_reader), the transactional producer of
events and saved state (publisher), and the clock."""
