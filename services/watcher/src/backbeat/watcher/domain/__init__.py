"""Pure watcher logic: change detection, the per-user event timeline, the poll schedule, the
rate budget and backoff. No I/O and no framework here."""
