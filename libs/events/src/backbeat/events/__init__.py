"""Backbeat's event contracts: the CloudEvents envelope, its Kafka mapping and every event type.

Every topic's key is the user id (UTF-8). Events travel in CloudEvents *binary* mode: the
attributes are ``ce_*`` Kafka headers and the value is the JSON ``data`` alone, so consumers
can route and deduplicate on headers without parsing bodies.
"""
