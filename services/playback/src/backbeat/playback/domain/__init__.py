"""Pure playback logic: the play rule, a user's listening state and how each event changes it.

No I/O and no framework imports: everything here is a function over plain values, so the rules
that decide what users see are tested without Kafka or a database.
"""
