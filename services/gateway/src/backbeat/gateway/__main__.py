"""Runs the gateway and web UI: ``python -m backbeat.gateway`` (127.0.0.1:8000 by default)."""

from backbeat.gateway.app import create_app
from backbeat.gateway.settings import GatewaySettings
from backbeat.runtime.serve import serve


def main() -> None:
    settings = GatewaySettings()
    serve(create_app(settings), settings, "gateway")


if __name__ == "__main__":
    main()
