"""The tokens service: the only code that reads or writes Spotify credentials."""
