"""Transient and permanent database failures are told apart by SQLSTATE, not by message."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from backbeat.playback.store.failures import (
    PermanentStoreFailure,
    TransientStoreFailure,
    classify,
)


class DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__("driver error")
        self.sqlstate = sqlstate


def db_error(sqlstate: str) -> DBAPIError:
    return DBAPIError("SELECT 1", {}, DriverError(sqlstate))


def test_lost_connections_deadlocks_and_shutdowns_are_transient() -> None:
    for code in ("08006", "40001", "40P01", "53300", "57P01", "23505"):
        assert isinstance(classify(db_error(code)), TransientStoreFailure), code
    assert isinstance(classify(ConnectionRefusedError()), TransientStoreFailure)
    assert isinstance(classify(TimeoutError()), TransientStoreFailure)


def test_bad_data_and_bugs_are_permanent() -> None:
    for code in ("22001", "22003", "23502", "42703"):
        assert isinstance(classify(db_error(code)), PermanentStoreFailure), code
    assert isinstance(classify(KeyError("x")), PermanentStoreFailure)
