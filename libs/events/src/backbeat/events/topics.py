"""Names of the stack's topics; partition counts and retention are each service's configuration."""

PLAYBACK_EVENTS = "playback.events"
PLAYBACK_EVENTS_DEAD_LETTER = "playback.events.dlq"
SPOTIFY_CONNECTIONS = "spotify.connections"
AUTH_USERS = "auth.users"
AUTH_REVOCATIONS = "auth.revocations"
PLAYBACK_PRESENCE = "playback.presence"
