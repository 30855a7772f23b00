"""The service runtime every Backbeat service is built on.

Settings, structured logging with redaction, health and metrics endpoints, problem-details
errors, one database engine per process and Kafka clients with safe defaults.
"""
