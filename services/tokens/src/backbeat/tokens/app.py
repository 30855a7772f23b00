"""Wires the tokens service: database, key ring, Spotify client, verifier, outbox relay."""

from __future__ import annotations

import gc
from datetime import timedelta
from functools import partial

import httpx
from fastapi import FastAPI

from backbeat.authn.dependencies import install_verifier
from backbeat.authn.keys import JwksCache, KeySource
from backbeat.authn.verifier import TokenVerifier
from backbeat.runtime.database import Database
from backbeat.runtime.http import create_service_app
from backbeat.runtime.kafka import TopicSpec
from backbeat.runtime.lifecycle import Lifecycle
from backbeat.runtime.outbox import OutboxPublisher
from backbeat.spotify.accounts import SpotifyAccounts
from backbeat.spotify.client import SpotifyClient, create_http_client
from backbeat.spotify.settings import SpotifySettings
from backbeat.tokens.api.routes import handout_route, internal_router, user_router
from backbeat.tokens.consumers.user_deletions import UserDeletionsConsumer
from backbeat.tokens.domain.refresh import RefreshPolicy
from backbeat.tokens.domain.vault import KeyRing
from backbeat.tokens.service.connect import ConnectFlow
from backbeat.tokens.service.handout import AccessTokenDispenser
from backbeat.tokens.settings import TokensSettings
from backbeat.tokens.store.tables import outbox


def freeze_what_lives() -> None:
    gc.collect()
    gc.freeze()


def spotify_settings(settings: TokensSettings) -> SpotifySettings:
    return SpotifySettings(
        client_id=settings.spotify_client_id,
        client_secret=settings.spotify_client_secret,
        redirect_uri=settings.spotify_redirect_uri,
        accounts_base_url=settings.spotify_accounts_url,
        api_base_url=settings.spotify_api_url,
    )


def create_app(
    settings: TokensSettings | None = None,
    *,
    spotify_http: httpx.AsyncClient | None = None,
    auth_keys: KeySource | None = None,
) -> FastAPI:
    """The tokens app. ``spotify_http`` and ``auth_keys`` replace the network paths to
    Spotify and to auth's JWKS (tests run both in-process)."""
    settings = settings or TokensSettings()
    database = Database(settings.database_url)
    keys = KeyRing.parse(settings.encryption_keys.get_secret_value())
    app_settings = spotify_settings(settings)
    # One pool for both sides of Spotify: the accounts service (code exchange, refresh) and
    # the Web API (the profile read when a user connects).
    http = spotify_http or create_http_client(app_settings)
    accounts = SpotifyAccounts(app_settings, http=http)
    spotify = SpotifyClient(app_settings.web_api(), http=http)
    jwks = JwksCache(settings.auth_jwks_url)
    policy = RefreshPolicy(
        margin=timedelta(seconds=settings.refresh_margin_s),
        retry_budget=timedelta(seconds=settings.refresh_retry_budget_s),
        cooldown=timedelta(seconds=settings.refresh_cooldown_s),
    )

    revocation_feed = settings.revocation_feed(
        settings.kafka_bootstrap, client_id="backbeat-tokens-revocations"
    )
    life = Lifecycle()

    app = create_service_app(
        service="tokens",
        title="Backbeat tokens",
        lifespan=life.lifespan,
        database=database,
        kafka_bootstrap=settings.kafka_bootstrap,
        readiness={"revocations": revocation_feed.ready},
    )
    # Closed last, in the reverse of this order.
    life.closes(database.dispose)
    life.closes(jwks.aclose)
    if spotify_http is None:
        life.closes(http.aclose)

    outbox_publisher = OutboxPublisher(
        database,
        outbox,
        bootstrap=settings.kafka_bootstrap,
        client_id="backbeat-tokens-outbox",
        topics=[
            TopicSpec(
                settings.connections_topic,
                partitions=settings.connections_partitions,
                compacted=True,
            )
        ],
    )
    life.runs("tokens-outbox-relay", outbox_publisher.run)

    def erased(user_id: str) -> None:
        # The tombstone leaves now, not at the relay's next look; the token this instance
        # may hold for the user is dropped.
        outbox_publisher.notify()
        app.state.dispenser.forget(user_id)

    deletions = UserDeletionsConsumer(
        database,
        bootstrap=settings.kafka_bootstrap,
        users_topic=TopicSpec(settings.users_topic, partitions=settings.users_partitions),
        group_id=settings.erasure_consumer_group,
        connections_topic=settings.connections_topic,
        on_erased=erased,
    )
    life.starts(deletions.start, deletions.stop)
    app.state.user_deletions = deletions
    life.starts(
        partial(revocation_feed.start, wait_s=settings.revocations_wait_s), revocation_feed.stop
    )
    # What is alive once the service has started (modules, the app, pools, clients) lives as
    # long as the process: frozen, the collector stops walking it again in every full
    # collection, pauses that showed in the hand-out's slowest percentile.
    life.starts(freeze_what_lives, gc.unfreeze)

    app.state.settings = settings
    app.state.database = database
    app.state.dispenser = AccessTokenDispenser(
        database,
        keys,
        accounts,
        policy=policy,
        lease=timedelta(seconds=settings.refresh_lease_s),
        warm_cache=timedelta(seconds=settings.handout_cache_s),
        connections_topic=settings.connections_topic,
    )
    app.state.connect_flow = ConnectFlow(
        database,
        keys,
        accounts,
        spotify,
        scopes=tuple(settings.spotify_scopes.split()),
        state_ttl=timedelta(seconds=settings.connect_state_ttl_s),
        authorize_base_url=settings.spotify_authorize_url,
        connections_topic=settings.connections_topic,
    )
    # A revoked session or user (sign-out, password change, account deletion) drops the
    # user's token from this instance's memory: every instance reads every revocation, so
    # this reaches the instances the account deletion's erasure does not run on.
    app.state.revocations = revocation_feed.revocations
    revocation_feed.revocations.listen(
        lambda revocation: app.state.dispenser.forget(str(revocation.user_id))
    )
    install_verifier(
        app,
        TokenVerifier(
            auth_keys or jwks,
            issuer=settings.auth_issuer,
            user_audience=settings.user_audience,
            service_audience=settings.service_audience,
            max_lifetime_s=settings.max_token_lifetime_s,
            max_service_lifetime_s=settings.max_service_token_lifetime_s,
            revocations=revocation_feed.revocations,
        ),
    )
    app.include_router(user_router())
    # The lean hand-out route first, so it answers; the FastAPI route documents it.
    app.router.routes.insert(0, handout_route(settings.handout_scope))
    app.include_router(internal_router(settings.handout_scope))
    return app
