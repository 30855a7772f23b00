"""What an instance hands out again from memory: only the user's own token, within its
window, never near its expiry, never after the user was forgotten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backbeat.tokens.domain.warm_tokens import WarmTokens

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MARGIN = timedelta(minutes=5)
LATER = NOW + timedelta(hours=1)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def warm(clock: Clock, window_s: float = 5.0, *, draw: str = "longest") -> WarmTokens[str]:
    def uniform(low: float, high: float) -> float:
        return high if draw == "longest" else low

    return WarmTokens(window_s, clock=clock, uniform=uniform)


def test_each_user_is_served_only_the_token_read_for_them() -> None:
    clock = Clock()
    tokens = warm(clock)
    tokens.put("user-a", "token-a", LATER, tokens.begin_read())
    tokens.put("user-b", "token-b", LATER, tokens.begin_read())

    assert tokens.get("user-a", NOW, MARGIN) == "token-a"
    assert tokens.get("user-b", NOW, MARGIN) == "token-b"
    assert tokens.get("user-c", NOW, MARGIN) is None
    # Ids are compared exactly: no case folding that could map one user onto another.
    assert tokens.get("USER-A", NOW, MARGIN) is None


def test_a_token_is_not_served_past_its_window_counted_from_when_its_read_began() -> None:
    clock = Clock()
    tokens = warm(clock, window_s=5.0)
    ticket = tokens.begin_read()
    clock.now += 2.0  # the read took two seconds
    tokens.put("user-a", "token-a", LATER, ticket)

    clock.now += 2.9
    assert tokens.get("user-a", NOW, MARGIN) == "token-a"
    clock.now += 0.1
    assert tokens.get("user-a", NOW, MARGIN) is None


def test_windows_are_spread_so_tokens_read_together_do_not_expire_together() -> None:
    clock = Clock()
    tokens = warm(clock, window_s=5.0, draw="shortest")
    tokens.put("user-a", "token-a", LATER, tokens.begin_read())

    clock.now += 2.4
    assert tokens.get("user-a", NOW, MARGIN) == "token-a"
    clock.now += 0.1
    assert tokens.get("user-a", NOW, MARGIN) is None


def test_a_token_within_the_refresh_margin_of_its_expiry_is_never_served() -> None:
    clock = Clock()
    tokens = warm(clock)
    expires_at = NOW + timedelta(minutes=6)
    tokens.put("user-a", "token-a", expires_at, tokens.begin_read())

    assert tokens.get("user-a", NOW, MARGIN) == "token-a"
    assert tokens.get("user-a", NOW + timedelta(minutes=1), MARGIN) is None
    # Gone for good, not only hidden at that moment.
    assert tokens.get("user-a", NOW, MARGIN) is None


def test_a_forgotten_user_is_not_served_from_memory() -> None:
    clock = Clock()
    tokens = warm(clock)
    tokens.put("user-a", "token-a", LATER, tokens.begin_read())
    tokens.put("user-b", "token-b", LATER, tokens.begin_read())

    tokens.forget("user-a")

    assert tokens.get("user-a", NOW, MARGIN) is None
    assert tokens.get("user-b", NOW, MARGIN) == "token-b"


def test_a_read_under_way_when_the_user_is_forgotten_is_not_remembered() -> None:
    # A disconnect committed while a read was in flight: the read may have seen the row
    # before its deletion, and must not put the old token back.
    clock = Clock()
    tokens = warm(clock)
    ticket = tokens.begin_read()
    tokens.forget("user-a")
    tokens.put("user-a", "token-a", LATER, ticket)

    assert tokens.get("user-a", NOW, MARGIN) is None
    fresh = tokens.begin_read()
    tokens.put("user-a", "token-a2", LATER, fresh)
    assert tokens.get("user-a", NOW, MARGIN) == "token-a2"


def test_nothing_is_remembered_with_an_empty_window() -> None:
    clock = Clock()
    tokens = warm(clock, window_s=0)
    tokens.put("user-a", "token-a", LATER, tokens.begin_read())

    assert tokens.get("user-a", NOW, MARGIN) is None
    assert len(tokens) == 0


def test_past_half_its_window_an_entry_asks_once_to_be_read_again() -> None:
    clock = Clock()
    tokens = warm(clock, window_s=10.0)
    tokens.put("user-a", "token-a", LATER, tokens.begin_read())

    clock.now += 4.9
    assert not tokens.read_again("user-a")
    clock.now += 0.1
    assert tokens.read_again("user-a")
    assert not tokens.read_again("user-a")  # once: a failing read does not turn into a storm
    assert tokens.get("user-a", NOW, MARGIN) == "token-a"  # and it still serves meanwhile
    assert not tokens.read_again("user-b")
