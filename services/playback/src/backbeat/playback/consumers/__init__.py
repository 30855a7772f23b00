"""Kafka consumers of the playback service: playback events into the projection, user
deletions into erasure.

Playback events run on aiokafka directly (``batch_pipeline``): the next batch is fetched and
decoded while the one before it is applied, and each batch's offsets are committed only after
its transaction committed, so offsets never run ahead of the database; delivery is at least
once and the projection's dedup (event id and per-user sequence, in the same transaction)
makes it exactly once. User deletions are rare and run on FastStream's subscriber: with
``AckPolicy.NACK_ON_ERROR`` it commits a record's offset only after the handler returned (the
erasure committed), and seeks back to it when the handler raises.
"""
