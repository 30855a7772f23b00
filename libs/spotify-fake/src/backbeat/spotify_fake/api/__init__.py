"""The fake's HTTP surface: Spotify's accounts service and Web API, and the control API."""
