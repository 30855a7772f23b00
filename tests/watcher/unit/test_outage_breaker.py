"""The shared view of a dependency's health: a fault every user meets opens the breaker,
one user's own fault does not, and one probe at a time tests a dependency that is down."""

from __future__ import annotations

from backbeat.watcher.domain.breaker import OutageBreaker


def test_a_few_users_failing_in_a_row_open_it_and_the_first_success_closes_it() -> None:
    health = OutageBreaker(failure_threshold=3, probe_interval_s=1.0)
    health.failed(10.0, "u1")
    health.failed(10.1, "u2")
    assert not health.is_open
    health.failed(10.2, "u3")
    assert health.is_open
    assert health.succeeded()  # this success ends an outage
    assert not health.is_open
    assert not health.succeeded()  # an ordinary success ends nothing


def test_one_users_failures_never_open_it_alone_nor_between_others_successes() -> None:
    health = OutageBreaker(failure_threshold=3)
    for n in range(20):
        health.failed(float(n), "unlucky")
    assert not health.is_open
    for n in range(20):
        health.failed(float(n), "u1")
        health.failed(float(n), "u2")
        health.succeeded()
    assert not health.is_open


def test_while_open_one_probe_at_a_time_goes_out_every_probe_interval() -> None:
    health = OutageBreaker(failure_threshold=1, probe_interval_s=1.0)
    health.failed(10.0, "u1")
    assert not health.probe_due(10.5)
    assert health.probe_due(11.0)
    health.start_probe()
    assert not health.probe_due(12.0)  # the probe is still out
    health.failed(12.5, "u1")  # the probe failed: the next one a probe interval later
    assert health.is_open
    assert not health.probe_due(13.0)
    assert health.probe_due(13.5)
    health.start_probe()
    health.probe_abandoned(13.7)  # its user went away: another probe right away
    assert health.probe_due(13.7)
