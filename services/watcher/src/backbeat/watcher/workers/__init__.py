"""The watcher's entrypoint: the Watcher, which composes the consumers, the poll loop, the
adapters and the store into one running worker, and its metrics."""
