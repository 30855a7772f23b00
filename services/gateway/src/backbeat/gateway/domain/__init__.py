"""Pure gateway logic: the route table, the rate limiter, the public API document's merge."""
