"""Kafka handlers of the tokens service."""
