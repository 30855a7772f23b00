"""The playback service's app factory: HTTP API, database, topics, consumers, live tail and
player control, wired once."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import httpx
from fastapi import FastAPI

from backbeat.authn.dependencies import install_verifier
from backbeat.authn.keys import JwksCache, KeySource
from backbeat.authn.service_tokens import ServiceTokenAuth
from backbeat.authn.spotify_access import SpotifyAccessTokens
from backbeat.authn.verifier import TokenVerifier
from backbeat.events.presence import PRESENCE_PARTITIONS, PRESENCE_TOPIC_CONFIG
from backbeat.playback.api.routes import playback_router
from backbeat.playback.consumers.live_tail import LiveTail, LiveTailMetrics
from backbeat.playback.consumers.metrics import ConsumerMetrics
from backbeat.playback.consumers.runtime import PlaybackConsumers, topic_specs
from backbeat.playback.live.hub import LiveHub
from backbeat.playback.live.presence import PresencePublisher
from backbeat.playback.service.player_control import PlayerControl
from backbeat.playback.settings import PlaybackSettings
from backbeat.playback.store.retention import ProcessedEventsPruner
from backbeat.runtime.database import Database
from backbeat.runtime.http import create_service_app
from backbeat.runtime.kafka import TopicSpec, ensure_topics
from backbeat.runtime.lifecycle import Lifecycle
from backbeat.spotify.client import SpotifyClient
from backbeat.spotify.settings import WebApiSettings


def spotify_settings(settings: PlaybackSettings) -> WebApiSettings:
    # Playback only sends Web API calls with users' access tokens; the app's own identity
    # and secret stay with tokens, which makes the accounts service calls.
    return WebApiSettings(
        api_base_url=settings.spotify_api_url,
        timeout_s=settings.spotify_timeout_s,
    )


def create_app(
    settings: PlaybackSettings | None = None,
    *,
    auth_keys: KeySource | None = None,
    spotify_http: httpx.AsyncClient | None = None,
    tokens_http: httpx.AsyncClient | None = None,
    auth_http: httpx.AsyncClient | None = None,
) -> FastAPI:
    """The service. The consumers run in its lifespan when ``settings.consume`` is on, the
    live tail when ``settings.live_stream`` is. Migrations are not run here: ``python -m
    backbeat.playback.store.migrate`` does, before the service starts.

    ``auth_keys``, ``spotify_http``, ``tokens_http`` and ``auth_http`` replace the network
    paths to auth's JWKS, Spotify, tokens and auth's token endpoint (tests run them
    in-process)."""
    settings = settings or PlaybackSettings()
    database = Database(settings.database_url, pool_size=settings.database_pool_size)
    jwks = JwksCache(settings.auth_jwks_url)
    service_tokens = settings.service_token_client(http=auth_http)
    own_tokens_http = tokens_http is None
    tokens_http = tokens_http or httpx.AsyncClient(timeout=settings.tokens_timeout_s)
    spotify = SpotifyClient(spotify_settings(settings), http=spotify_http)
    revocation_feed = settings.revocation_feed(
        settings.kafka_bootstrap, client_id="backbeat-playback-revocations"
    )
    presence = (
        PresencePublisher(
            settings.kafka_bootstrap,
            topic=settings.presence_topic,
            ttl_s=settings.presence_ttl_s,
            refresh_s=settings.presence_refresh_s,
        )
        if settings.live_stream
        else None
    )
    hub = (
        LiveHub(
            events_per_user=settings.stream_replay_events_per_user,
            users=settings.stream_replay_users,
            pending_per_stream=settings.stream_pending_events,
            revocations=revocation_feed.revocations,
            on_viewers=presence.changed if presence is not None else None,
        )
        if settings.live_stream
        else None
    )

    life = Lifecycle()

    app = create_service_app(
        service="playback",
        title="Backbeat playback",
        lifespan=life.lifespan,
        database=database,
        kafka_bootstrap=settings.kafka_bootstrap,
        readiness={"revocations": revocation_feed.ready},
    )
    # Stopped in the reverse of this order: the database last, after the consumers.
    life.closes(database.dispose)
    life.closes(jwks.aclose)
    life.closes(service_tokens.aclose)
    life.closes(spotify.aclose)
    if own_tokens_http:
        life.closes(tokens_http.aclose)
    life.starts(partial(ensure_topics, settings.kafka_bootstrap, topic_specs(settings)))
    if presence is not None:
        presence_topic = TopicSpec(
            settings.presence_topic,
            partitions=PRESENCE_PARTITIONS,
            compacted=True,
            config=PRESENCE_TOPIC_CONFIG,
        )
        life.starts(partial(ensure_topics, settings.kafka_bootstrap, [presence_topic]))
        life.starts(presence.start, presence.stop)
    life.starts(
        partial(revocation_feed.start, wait_s=settings.revocations_wait_s), revocation_feed.stop
    )
    if hub is not None:
        live_hub = hub

        def tailing(tail: LiveTail) -> None:
            async def tail_running() -> None:
                tail.check_running()

            app.state.readiness["live_tail"] = tail_running

        life.builds(
            lambda: LiveTail(
                settings.kafka_bootstrap,
                events_topic=settings.events_topic,
                users_topic=settings.users_topic,
                hub=live_hub,
                metrics=LiveTailMetrics(app.state.metrics_registry),
            ),
            started=tailing,
        )
    app.state.consumers = None
    if settings.consume:

        def consuming(consumers: PlaybackConsumers) -> None:
            app.state.consumers = consumers

        life.builds(
            lambda: PlaybackConsumers(
                settings, database, ConsumerMetrics(app.state.metrics_registry)
            ),
            started=consuming,
        )
        pruner = ProcessedEventsPruner(
            database,
            retention=timedelta(hours=settings.processed_events_retention_h),
            interval=timedelta(seconds=settings.processed_events_prune_interval_s),
        )
        life.starts(pruner.start, pruner.stop)

    app.state.settings = settings
    app.state.database = database
    app.state.live_hub = hub
    app.state.player_control = PlayerControl(
        SpotifyAccessTokens(
            settings.tokens_url, tokens_http, auth=ServiceTokenAuth(service_tokens)
        ),
        spotify,
    )
    install_verifier(
        app,
        TokenVerifier(
            auth_keys or jwks,
            issuer=settings.auth_issuer,
            user_audience=settings.user_audience,
            service_audience=None,
            max_lifetime_s=settings.max_token_lifetime_s,
            revocations=revocation_feed.revocations,
        ),
    )
    app.include_router(playback_router())
    return app
