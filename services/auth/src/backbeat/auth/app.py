"""Builds the auth service: ``create_app(settings)`` wires settings, storage, keys, use cases
and routes into one FastAPI app."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

from fastapi import FastAPI

from backbeat.auth.api import internal, keys, oauth, users
from backbeat.auth.api.errors import install_refusal_handler
from backbeat.auth.domain.keys import KeySchedule
from backbeat.auth.domain.passwords import Argon2Params, PasswordHasher, PasswordPolicy
from backbeat.auth.domain.refresh import RefreshPolicy
from backbeat.auth.domain.throttle import ThrottlePolicy, ThrottleRule
from backbeat.auth.service.accounts import AccessTokenSettings, Accounts
from backbeat.auth.service.keyring import KeyRing
from backbeat.auth.service.service_tokens import ServiceTokens
from backbeat.auth.settings import AuthSettings
from backbeat.auth.store import tables
from backbeat.auth.store.sealing import KeySealer
from backbeat.authn import TokenVerifier, install_verifier
from backbeat.runtime.database import Database
from backbeat.runtime.http import create_service_app
from backbeat.runtime.kafka import TopicSpec
from backbeat.runtime.lifecycle import Lifecycle
from backbeat.runtime.outbox import OutboxPublisher

log = logging.getLogger(__name__)


def key_schedule(settings: AuthSettings) -> KeySchedule:
    return KeySchedule(
        longest_token_ttl=timedelta(
            seconds=max(settings.access_token_ttl_s, settings.service_token_ttl_s)
        ),
        retirement_grace=timedelta(seconds=settings.key_retirement_grace_s),
        rotation_interval=(
            timedelta(seconds=settings.key_rotation_interval_s)
            if settings.key_rotation_interval_s
            else None
        ),
    )


def throttle_policy(settings: AuthSettings) -> ThrottlePolicy:
    return ThrottlePolicy(
        pair=ThrottleRule(
            settings.throttle_pair_free_failures,
            timedelta(seconds=settings.throttle_pair_max_delay_s),
        ),
        account=ThrottleRule(
            settings.throttle_account_free_failures,
            timedelta(seconds=settings.throttle_account_max_delay_s),
        ),
        address=ThrottleRule(
            settings.throttle_address_free_failures,
            timedelta(seconds=settings.throttle_address_max_delay_s),
        ),
        window=timedelta(seconds=settings.throttle_window_s),
    )


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    settings = settings or AuthSettings()
    db = Database(settings.database_url, pool_size=settings.database_pool_size)
    sealer = KeySealer(settings.key_encryption_secret.get_secret_value())
    keyring = KeyRing(db, sealer, key_schedule(settings))
    outbox = OutboxPublisher(
        db,
        tables.outbox,
        bootstrap=settings.kafka_bootstrap,
        client_id="backbeat-auth-outbox",
        topics=[TopicSpec(settings.users_topic), settings.revocations_topic_spec()],
    )
    accounts = Accounts(
        db,
        hasher=PasswordHasher(
            Argon2Params(
                settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism
            )
        ),
        password_policy=PasswordPolicy(settings.password_min_length, settings.password_max_length),
        refresh_policy=RefreshPolicy(
            idle_ttl=timedelta(seconds=settings.refresh_idle_ttl_s),
            absolute_ttl=timedelta(seconds=settings.refresh_absolute_ttl_s),
        ),
        throttle_policy=throttle_policy(settings),
        keyring=keyring,
        access=AccessTokenSettings(
            settings.issuer, settings.user_token_audience, settings.access_token_ttl_s
        ),
        outbox=tables.outbox,
        users_topic=settings.users_topic,
        revocations_topic=settings.revocations_topic,
        on_outbox_write=outbox.notify,
        hash_concurrency=settings.password_hash_concurrency,
    )
    service_tokens = ServiceTokens(
        db, keyring=keyring, issuer=settings.issuer, ttl_s=settings.service_token_ttl_s
    )

    life = Lifecycle()
    app = create_service_app(
        service="auth",
        title="Backbeat auth",
        lifespan=life.lifespan,
        database=db,
    )
    life.closes(db.dispose)
    # The first start of an empty database makes the first key; later starts load them.
    life.starts(keyring.rotate_if_due)
    life.runs("keys", partial(keyring.maintain, settings.key_reload_interval_s))
    if settings.outbox_relay_enabled:
        life.runs("outbox-relay", outbox.run)
    app.state.settings = settings
    app.state.db = db
    app.state.keyring = keyring
    app.state.accounts = accounts
    app.state.service_tokens = service_tokens
    install_verifier(
        app,
        TokenVerifier(
            keyring,
            issuer=settings.issuer,
            user_audience=settings.user_token_audience,
            service_audience=settings.service_audience,
            max_lifetime_s=settings.max_token_lifetime_s,
            max_service_lifetime_s=settings.max_service_token_lifetime_s,
            # No revocation list here: every user route of auth checks the session in its
            # own database, which is where revocations are decided.
        ),
    )
    install_refusal_handler(app)
    for router in (users.router, oauth.router, keys.router, internal.router):
        app.include_router(router)
    return app
