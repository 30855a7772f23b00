"""Password throttling: delays that grow with failures, per (account, address), per account and
per address. Every check of a password counts: sign-in and password change alike.

The pair rule is strict (an attacker at one address guessing one account) and always applies.
The account rule is loose and its delay short (a spread-out attack); it holds only an address
that has itself failed at the account a few times, and never one that signed in to it
before, so an attacker anywhere cannot keep the owner out: the owner's known address, and a
fresh one, still get their tries. The address rule (credential stuffing from one place) also
spares the account's known address, so a busy shared address does not lock out its regulars.
Attempts refused for throttling are not counted, so waiting always ends.

Addresses are counted as the gateway attests them; an IPv6 address counts as its /64, since
one subscriber holds a whole /64 and could otherwise take a fresh address per guess.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# IPv6 prefix length one subscriber is given (RFC 6177: at least a /64 per site).
IPV6_SUBSCRIBER_PREFIX = 64


def throttled_address(address: str) -> str:
    """The unit an address is counted as: an IPv4 address itself, an IPv6 address its /64."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        network = ipaddress.IPv6Network((parsed, IPV6_SUBSCRIBER_PREFIX), strict=False)
        return str(network)
    return str(parsed)


class ThrottleScope(StrEnum):
    PAIR = "pair"
    ACCOUNT = "account"
    ADDRESS = "address"


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    free_failures: int
    max_delay: timedelta

    def delay_after(self, failures: int) -> timedelta:
        """No delay for the first ``free_failures``, then 1 s doubling per failure, capped."""
        if failures < self.free_failures:
            return timedelta(0)
        exponent = min(failures - self.free_failures, 30)
        return min(timedelta(seconds=2**exponent), self.max_delay)


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    pair: ThrottleRule
    account: ThrottleRule
    address: ThrottleRule
    window: timedelta
    # An address that signed in to the account this recently is the account's owner's.
    known_address_ttl: timedelta = timedelta(days=30)
    # Failures an address may make at an account before the account rule holds it: the owner
    # at a new address gets a try and a typo even while others guess at the account.
    fresh_address_tries: int = 2

    def rule(self, scope: ThrottleScope) -> ThrottleRule:
        return {
            ThrottleScope.PAIR: self.pair,
            ThrottleScope.ACCOUNT: self.account,
            ThrottleScope.ADDRESS: self.address,
        }[scope]


@dataclass(frozen=True, slots=True)
class FailureRecord:
    failures: int
    last_failure_at: datetime | None
    last_success_at: datetime | None = None


def retry_after(
    policy: ThrottlePolicy, records: dict[ThrottleScope, FailureRecord], now: datetime
) -> timedelta:
    """How long the caller must wait before this password attempt is evaluated (0: go
    ahead). ``records`` are the counters of the attempt's account, address and their pair."""

    def recent(record: FailureRecord | None) -> bool:
        return (
            record is not None
            and record.last_failure_at is not None
            and now - record.last_failure_at <= policy.window
        )

    pair = records.get(ThrottleScope.PAIR)
    known_address = (
        pair is not None
        and pair.last_success_at is not None
        and now - pair.last_success_at <= policy.known_address_ttl
    )
    pair_failures = pair.failures if pair is not None and recent(pair) else 0
    spared = {
        ThrottleScope.ACCOUNT: known_address or pair_failures < policy.fresh_address_tries,
        ThrottleScope.ADDRESS: known_address,
        ThrottleScope.PAIR: False,
    }
    wait = timedelta(0)
    for scope, record in records.items():
        if spared[scope] or not recent(record) or record.last_failure_at is None:
            continue
        until = record.last_failure_at + policy.rule(scope).delay_after(record.failures)
        wait = max(wait, until - now)
    return wait
