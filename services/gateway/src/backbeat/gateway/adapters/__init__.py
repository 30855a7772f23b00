"""Forwarding requests to the services: headers, timeouts, streaming, failure answers (the
gateway's outbound HTTP)."""
