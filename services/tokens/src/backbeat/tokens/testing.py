"""The tokens service as a process for tests and benchmarks, against a Spotify (the fake) app."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

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
    users_topic: str | None = None,
    revocations_topic: str | None = None,
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
    on the same broker reads. Account deletions and session revocations are read from
    ``users_topic`` and ``revocations_topic`` (those the run's auth publishes on; by default
    names of the run's own made from ``connections_topic``), in an erasure group of the
    run's own. ``settings`` adds or overrides BACKBEAT_TOKENS_* by suffix, ``env`` other
    variables (``BACKBEAT_ENVIRONMENT``)."""
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
            "USERS_TOPIC": users_topic or f"{connections_topic}.auth-users",
            "REVOCATIONS_TOPIC": revocations_topic or f"{connections_topic}.auth-revocations",
            "ERASURE_CONSUMER_GROUP": f"{connections_topic}.erasure",
            **(settings or {}),
        },
        env={**(env or {}), "BACKBEAT_KAFKA_BOOTSTRAP": kafka_bootstrap},
        name=name,
        port=port,
        ready_path=ready_path,
    )


def connect_in_a_browser(
    tokens_url: str, fake_url: str, user_headers: Mapping[str, str], spotify_user: str
) -> httpx.Response:
    """The connect flow as one browser runs it against tokens (or a gateway in front of it)
    and the fake: start as the user ``user_headers`` authenticate, consent as
    ``spotify_user``, back to the callback with the cookie the start set. The callback's
    response (a redirect to the web UI)."""
    with httpx.Client(timeout=30) as browser:
        started = browser.post(f"{tokens_url}/api/spotify/connect", headers=user_headers)
        started.raise_for_status()
        authorize = urlsplit(started.json()["authorize_url"])
        consent = browser.get(f"{fake_url}/authorize?{authorize.query}&fake_user={spotify_user}")
        back = urlsplit(consent.headers["location"])
        return browser.get(f"{tokens_url}{back.path}?{back.query}")
