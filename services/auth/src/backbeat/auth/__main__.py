"""Runs the auth service: ``python -m backbeat.auth`` (127.0.0.1:8001 unless configured)."""

from backbeat.auth.app import create_app
from backbeat.auth.settings import AuthSettings
from backbeat.runtime.serve import serve


def main() -> None:
    settings = AuthSettings()
    serve(create_app(settings), settings, "auth")


if __name__ == "__main__":
    main()
