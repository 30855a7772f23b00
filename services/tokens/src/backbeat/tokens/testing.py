"""The tokens service as a process for tests and benchmarks, against a Spotify (the fake) app."""

from __future__ import annotations

from collections.abc import Mapping

from backbeat.runtime.testing import ServiceProcess, service_process


def tokens_process(
    *,
    database_url: str,
    kafka_bootstrap: str,
    auth_issuer: str,
    jwks_url: str,
    spotify_url: str,
    spotify_app: Mapping[str, str],
    redirect_uri: str,
    connections_topic: str,
    name: str = "tokens",
    port: int | None = None,
    settings: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    ready_path: str = "/health/ready",
) -> ServiceProcess:
    """Tokens trusting the user and service tokens ``auth_issuer`` signs (keys at
    ``jwks_url``), holding credentials for ``spotify_app`` (its ``client_id`` and
    ``client_secret``) at the Spotify whose accounts and Web API answer at ``spotify_url``.
    Connection events go to ``connections_topic``: a run's own, never the topic a local stack
    on the same broker reads. ``settings`` adds or overrides BACKBEAT_TOKENS_* by suffix,
    ``env`` other variables (``BACKBEAT_ENVIRONMENT``)."""
    return service_process(
        "tokens",
        {
            "DATABASE_URL": database_url,
            "AUTH_ISSUER": auth_issuer,
            "AUTH_JWKS_URL": jwks_url,
            "SPOTIFY_CLIENT_ID": spotify_app["client_id"],
            "SPOTIFY_CLIENT_SECRET": spotify_app["client_secret"],
            "SPOTIFY_ACCOUNTS_URL": spotify_url,
            "SPOTIFY_API_URL": spotify_url,
            "SPOTIFY_REDIRECT_URI": redirect_uri,
            "CONNECTIONS_TOPIC": connections_topic,
            **(settings or {}),
        },
        env={**(env or {}), "BACKBEAT_KAFKA_BOOTSTRAP": kafka_bootstrap},
        name=name,
        port=port,
        ready_path=ready_path,
    )
