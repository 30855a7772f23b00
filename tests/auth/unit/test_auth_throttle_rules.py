"""Password throttling delays: who is held by which rule, and what an address counts as."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backbeat.auth.domain.throttle import (
    FailureRecord,
    ThrottlePolicy,
    ThrottleRule,
    ThrottleScope,
    retry_after,
    throttled_address,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)
POLICY = ThrottlePolicy(
    pair=ThrottleRule(5, timedelta(minutes=15)),
    account=ThrottleRule(50, timedelta(seconds=30)),
    address=ThrottleRule(100, timedelta(minutes=15)),
    window=timedelta(hours=1),
)


def failed(
    count: int, ago: timedelta = timedelta(0), success_ago: timedelta | None = None
) -> FailureRecord:
    success = None if success_ago is None else NOW - success_ago
    return FailureRecord(count, NOW - ago, success)


def test_the_first_failures_cost_no_delay() -> None:
    assert retry_after(POLICY, {ThrottleScope.PAIR: failed(4)}, NOW) == timedelta(0)


def test_the_delay_doubles_with_each_failure_past_the_free_ones() -> None:
    delays = [retry_after(POLICY, {ThrottleScope.PAIR: failed(n)}, NOW) for n in (5, 6, 7, 8)]
    assert delays == [timedelta(seconds=s) for s in (1, 2, 4, 8)]


def test_the_delay_is_capped() -> None:
    assert retry_after(POLICY, {ThrottleScope.PAIR: failed(40)}, NOW) == timedelta(minutes=15)


def test_waiting_out_the_delay_lets_the_next_attempt_through() -> None:
    assert retry_after(POLICY, {ThrottleScope.PAIR: failed(8, ago=timedelta(seconds=9))}, NOW) == (
        timedelta(0)
    )


def test_failures_older_than_the_window_are_forgotten() -> None:
    old = failed(40, ago=timedelta(hours=2))
    assert retry_after(POLICY, {ThrottleScope.PAIR: old}, NOW) == timedelta(0)


def test_an_attacked_account_slows_down_by_at_most_the_account_cap() -> None:
    # An address that has itself failed at the account (the account rule holds only those).
    records = {ThrottleScope.ACCOUNT: failed(500), ThrottleScope.PAIR: failed(2)}
    assert retry_after(POLICY, records, NOW) == timedelta(seconds=30)


def test_an_attacked_account_still_gives_a_fresh_address_its_tries() -> None:
    attacked = failed(500)
    assert retry_after(POLICY, {ThrottleScope.ACCOUNT: attacked}, NOW) == timedelta(0)
    one_typo = {ThrottleScope.ACCOUNT: attacked, ThrottleScope.PAIR: failed(1)}
    assert retry_after(POLICY, one_typo, NOW) == timedelta(0)


def test_an_address_s_failures_past_the_window_do_not_make_the_account_rule_hold_it() -> None:
    records = {
        ThrottleScope.ACCOUNT: failed(500),
        ThrottleScope.PAIR: failed(4, ago=timedelta(hours=2)),
    }
    assert retry_after(POLICY, records, NOW) == timedelta(0)


def test_a_known_address_is_still_held_by_its_own_pair_failures() -> None:
    records = {ThrottleScope.PAIR: FailureRecord(6, NOW, NOW - timedelta(days=1))}
    assert retry_after(POLICY, records, NOW) == timedelta(seconds=2)


def test_a_busy_address_does_not_hold_an_account_that_signed_in_from_it_before() -> None:
    known = FailureRecord(0, None, NOW - timedelta(days=3))
    busy = failed(120)
    assert retry_after(POLICY, {ThrottleScope.ADDRESS: busy}, NOW) == timedelta(minutes=15)
    records = {ThrottleScope.ADDRESS: busy, ThrottleScope.PAIR: known}
    assert retry_after(POLICY, records, NOW) == timedelta(0)


def test_an_address_known_too_long_ago_is_a_stranger_again() -> None:
    long_ago = FailureRecord(0, None, NOW - timedelta(days=31))
    records = {ThrottleScope.ADDRESS: failed(120), ThrottleScope.PAIR: long_ago}
    assert retry_after(POLICY, records, NOW) == timedelta(minutes=15)


@pytest.mark.parametrize(
    ("address", "counted_as"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("unknown", "unknown"),
    ],
)
def test_an_ipv6_address_counts_as_its_subscriber_s_whole_64(address: str, counted_as: str) -> None:
    assert throttled_address(address) == counted_as


def test_an_address_that_signed_in_to_the_account_before_is_not_held_by_the_account_rule() -> None:
    records = {
        ThrottleScope.ACCOUNT: failed(500),
        ThrottleScope.PAIR: FailureRecord(0, None, NOW - timedelta(days=2)),
    }
    assert retry_after(POLICY, records, NOW) == timedelta(0)


def test_the_longest_delay_of_all_scopes_applies() -> None:
    records = {
        ThrottleScope.PAIR: failed(6),
        ThrottleScope.ADDRESS: failed(104),
    }
    assert retry_after(POLICY, records, NOW) == timedelta(seconds=16)
