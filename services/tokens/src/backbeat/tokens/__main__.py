"""``python -m backbeat.tokens`` serves the tokens service."""

from backbeat.runtime.serve import serve
from backbeat.tokens.app import create_app
from backbeat.tokens.settings import TokensSettings

if __name__ == "__main__":
    settings = TokensSettings()
    serve(create_app(settings), settings, "tokens")
