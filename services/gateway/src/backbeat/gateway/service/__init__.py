"""What the gateway does with a public request: the edge's checks, in order, before it is
forwarded."""
