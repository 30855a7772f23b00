"""The gateway's own HTTP routes: the public API document, the web UI, and the proxy."""
