"""History cursors: only what the service hands out is read back; anything else, however
close, is refused before it reaches the database."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from backbeat.playback.store.queries import HistoryCursor, InvalidCursor


def encoded(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "started_at",
    [
        datetime(2026, 11, 30, 22, 5, 1, 123456, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime(1, 1, 2, tzinfo=UTC),
    ],
)
def test_a_cursor_handed_out_is_read_back(started_at: datetime) -> None:
    cursor = HistoryCursor(started_at, 42)
    assert HistoryCursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize(
    "text",
    [
        encoded("0001-01-01T00:00:00+14:00|1"),
        encoded("9999-12-31T23:59:59-14:00|1"),
        encoded("2020-01-01T00:00:00+00:00|9223372036854775808"),
        encoded("2020-01-01T00:00:00+00:00|0"),
        encoded("2020-01-01T00:00:00+00:00|-1"),
        encoded("2020-01-01T00:00:00+00:00|١٢٣"),
        encoded("2020-01-01T00:00:00+00:00|+5"),
        encoded("2020-01-01T00:00:00+00:00|5 "),
        encoded("2020-01-01T00:00:00+00:00\x00|5"),
        encoded("2020-01-01 00:00:00+00:00|5"),
        encoded("2020-01-01T00:00:00|5"),
        encoded("2020-01-01T00:00:00+00:00|5|6"),
        "not a cursor",
        "",
    ],
)
def test_anything_else_is_an_invalid_cursor(text: str) -> None:
    with pytest.raises(InvalidCursor):
        HistoryCursor.decode(text)
