"""The GCRA limiter: bursts, steady rates, the wait it announces, and bounded memory."""

from __future__ import annotations

import pytest

from backbeat.gateway.domain.rate_limit import GcraLimiter, RateLimit


def test_a_full_burst_is_allowed_and_the_next_request_waits_one_interval() -> None:
    limiter = GcraLimiter(RateLimit(rate_per_s=2, burst=3))
    verdicts = [limiter.check("ada", now=100.0) for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert [v.remaining for v in verdicts[:3]] == [2, 1, 0]
    assert verdicts[3].retry_after_s == pytest.approx(0.5)
    assert verdicts[3].retry_after_header == "1"


def test_after_the_announced_wait_one_more_request_is_allowed() -> None:
    limiter = GcraLimiter(RateLimit(rate_per_s=2, burst=3))
    for _ in range(3):
        limiter.check("ada", now=100.0)
    refused = limiter.check("ada", now=100.0)
    assert limiter.check("ada", now=100.0 + refused.retry_after_s).allowed
    assert not limiter.check("ada", now=100.0 + refused.retry_after_s).allowed


def test_a_steady_rate_at_the_limit_is_never_refused() -> None:
    limiter = GcraLimiter(RateLimit(rate_per_s=10, burst=1))
    assert all(limiter.check("ada", now=5.0 + n * 0.1).allowed for n in range(100))


def test_a_rate_above_the_limit_is_held_to_the_limit() -> None:
    limiter = GcraLimiter(RateLimit(rate_per_s=10, burst=5))
    # 100 requests per second for 10 seconds: 5 of burst plus 10 per second get through.
    allowed = sum(limiter.check("ada", now=n * 0.01).allowed for n in range(1000))
    assert allowed == pytest.approx(5 + 10 * 10, abs=1)


def test_one_key_exhausted_leaves_the_others_untouched() -> None:
    limiter = GcraLimiter(RateLimit(rate_per_s=1, burst=1))
    assert limiter.check("ada", now=0.0).allowed
    assert not limiter.check("ada", now=0.0).allowed
    assert limiter.check("grace", now=0.0).allowed


def test_an_idle_key_gets_its_whole_burst_back() -> None:
    limiter = GcraLimiter(RateLimit(rate_per_s=1, burst=4))
    for _ in range(4):
        limiter.check("ada", now=0.0)
    assert not limiter.check("ada", now=0.0).allowed
    later = [limiter.check("ada", now=3600.0).allowed for _ in range(5)]
    assert later == [True, True, True, True, False]


def test_retry_after_is_a_whole_number_of_seconds_rounded_up() -> None:
    limiter = GcraLimiter(RateLimit(rate_per_s=0.1, burst=1))
    limiter.check("ada", now=0.0)
    refused = limiter.check("ada", now=0.5)
    assert refused.retry_after_s == pytest.approx(9.5)
    assert refused.retry_after_header == "10"


def test_memory_stays_bounded_and_keys_with_full_buckets_go_first() -> None:
    limiter = GcraLimiter(RateLimit(rate_per_s=1, burst=1), max_keys=100)
    limiter.check("busy", now=0.0)
    for n in range(1000):
        limiter.check(f"address-{n}", now=float(n))
        assert len(limiter) <= 100
    # "busy" was dropped once its bucket had refilled: it is as good as new.
    assert limiter.check("busy", now=1000.0).allowed


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_a_limit_needs_a_positive_rate_and_burst(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="positive rate"):
        RateLimit(rate, burst)
