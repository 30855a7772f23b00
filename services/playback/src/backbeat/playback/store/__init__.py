"""Playback's PostgreSQL side: tables, the transactional projection of event batches, the
queries that history, now playing and statistics are served from, erasure and migrations."""
