"""The watcher's saved per-user state: a compacted Kafka changelog, restored per partition."""
