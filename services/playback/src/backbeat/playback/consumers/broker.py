"""The FastStream Kafka broker the user deletions consumer runs on (playback events run on
aiokafka directly: see ``batch_pipeline``)."""

from __future__ import annotations

import logging

from faststream.kafka import KafkaBroker

from backbeat.runtime.kafka import KAFKA_CLIENT_OPTIONS


def build_broker(bootstrap: str, *, client_id: str = "backbeat-playback") -> KafkaBroker:
    """A consume-only broker: topics are created by the service at start from its settings
    (not by the framework with broker defaults), dead letters go through the runtime's
    idempotent producer, and per-batch framework logs stay at debug level."""
    return KafkaBroker(
        bootstrap,
        client_id=client_id,
        consumer_only=True,
        allow_auto_create_topics=False,
        logger=logging.getLogger("backbeat.playback.consumers.faststream"),
        log_level=logging.DEBUG,
        # Shutdown waits this long for the batch in hand to commit before stopping.
        graceful_timeout=15.0,
        **KAFKA_CLIENT_OPTIONS,
    )
