"""HTTP side of the playback service. For now the runtime's health, readiness and metrics
endpoints only; the user API (now playing, history, statistics, live stream, player control)
is served from the store's query functions in ``store.queries``."""
