"""The tokens database: credentials (sealed), connect states, audit log, outbox."""
