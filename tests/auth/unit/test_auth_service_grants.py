"""Which service tokens a client may get."""

from __future__ import annotations

from backbeat.auth.domain.service_clients import (
    GrantRefusal,
    ServiceClient,
    ServiceGrant,
    decide_grant,
    validate_registration,
)

WATCHER = ServiceClient(
    "watcher", frozenset({"tokens", "playback"}), frozenset({"tokens:read", "playback:write"})
)


def test_a_client_gets_the_scopes_it_asks_for_at_an_allowed_audience() -> None:
    assert decide_grant(WATCHER, "tokens", "tokens:read") == ServiceGrant(
        "watcher", "tokens", frozenset({"tokens:read"})
    )


def test_without_a_scope_a_client_gets_all_its_scopes_for_that_audience_only() -> None:
    grant = decide_grant(WATCHER, "playback", None)
    assert isinstance(grant, ServiceGrant)
    assert grant.scopes == {"playback:write"}


def test_a_scope_of_another_audience_is_refused() -> None:
    assert decide_grant(WATCHER, "tokens", "playback:write") is GrantRefusal.INVALID_SCOPE


def test_an_audience_outside_the_allowlist_is_refused() -> None:
    assert decide_grant(WATCHER, "auth", None) is GrantRefusal.INVALID_TARGET


def test_an_audience_is_required_when_the_client_has_several() -> None:
    assert decide_grant(WATCHER, None, None) is GrantRefusal.INVALID_REQUEST


def test_a_disabled_client_gets_nothing() -> None:
    disabled = ServiceClient("old", frozenset({"tokens"}), frozenset(), disabled=True)
    assert decide_grant(disabled, "tokens", None) is GrantRefusal.UNAUTHORIZED_CLIENT


def test_registration_refuses_ids_that_could_pass_for_something_else() -> None:
    assert validate_registration("watcher", {"tokens"}, {"tokens:read"}) == []
    assert validate_registration("svc:watcher", {"tokens"}, set())
    assert validate_registration("0b0c0f6e-2f1b-4b8e-9d77-3e1f5c9a8b7d", {"tokens"}, set())
    assert validate_registration("watcher", {"tokens"}, {"playback:write"})
