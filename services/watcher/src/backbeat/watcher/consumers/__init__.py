"""What the watcher reads from Kafka: connections (which users it owns), live-stream presence,
and the app's rate-limit pauses."""
