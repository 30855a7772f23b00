"""Sign-in throttling: delays that grow with failures, per (account, address), per account and
per address.

The pair rule is strict (an attacker at one address guessing one account); the account rule
is loose and its delay short (a spread-out attack), and it does not apply to an address that
signed in to that account before, so an attacker cannot lock the real user out. Attempts
refused for throttling are not counted, so waiting always ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


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
    """How long the caller must wait before this sign-in attempt is evaluated (0: go ahead)."""
    pair = records.get(ThrottleScope.PAIR)
    known_address = (
        pair is not None
        and pair.last_success_at is not None
        and now - pair.last_success_at <= policy.known_address_ttl
    )
    wait = timedelta(0)
    for scope, record in records.items():
        if scope is ThrottleScope.ACCOUNT and known_address:
            continue
        if record.last_failure_at is None or now - record.last_failure_at > policy.window:
            continue
        until = record.last_failure_at + policy.rule(scope).delay_after(record.failures)
        wait = max(wait, until - now)
    return wait
