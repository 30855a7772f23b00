"""The gateway: the one public entrance to Backbeat's services, and the web UI."""
