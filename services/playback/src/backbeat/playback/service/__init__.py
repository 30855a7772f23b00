"""What the API does beyond reading the store: player commands through Spotify."""
