"""The watcher's moving parts: the scheduler loop, Kafka ownership, state and publishing."""
