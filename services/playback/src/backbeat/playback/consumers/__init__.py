"""Kafka consumers of the playback service: playback events into the projection, user
deletions into erasure.

Why FastStream: its Kafka batch subscriber hands a handler one ``getmany`` batch and, with
``AckPolicy.NACK_ON_ERROR``, commits the group's offsets only after the handler returned, and on
an exception seeks every partition of the batch back to its first record, so the batch is
delivered again. The handler returns only after the database transaction that applied the
batch has committed (and after any dead letters were acknowledged by the broker): offsets
never run ahead of the database, so delivery is at least once and the projection's dedup
(event id and per-user sequence, in the same transaction) makes it exactly once.
"""
