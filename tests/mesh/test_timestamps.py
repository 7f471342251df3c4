"""One datetime <-> Timestamp conversion: naive means UTC whatever the machine's zone, aware
is converted, and what comes back is aware UTC."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from mesh.timestamps import from_ts, ts, ts_ms

WALL = datetime(2026, 12, 2, 9, 30, 15, 123456)
EPOCH_S = int(WALL.replace(tzinfo=UTC).timestamp())


@pytest.fixture
def tokyo_local_time() -> Iterator[None]:
    """The process's local zone set to UTC+9, so reading naive as local would show."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_a_naive_datetime_is_utc_even_where_local_time_is_not(tokyo_local_time: None) -> None:
    assert datetime(2026, 1, 1).astimezone().utcoffset() == timedelta(hours=9)
    stamp = ts(WALL)
    assert (stamp.seconds, stamp.nanos) == (EPOCH_S, 123_456_000)


def test_an_aware_datetime_is_converted_to_utc(tokyo_local_time: None) -> None:
    plus_two = WALL.replace(tzinfo=timezone(timedelta(hours=2)))
    assert ts(plus_two).seconds == EPOCH_S - 2 * 3600
    assert ts(WALL.replace(tzinfo=UTC)) == ts(WALL)


def test_back_to_an_aware_utc_datetime() -> None:
    back = from_ts(ts(WALL.replace(tzinfo=timezone(timedelta(hours=-5)))))
    assert back.tzinfo is UTC
    assert back == WALL.replace(tzinfo=timezone(timedelta(hours=-5)))
    assert from_ts(ts(WALL)) == WALL.replace(tzinfo=UTC)


def test_none_is_an_unset_field() -> None:
    assert ts(None) is None
    assert ts_ms(None) is None


def test_milliseconds_are_exact_for_integers_of_any_kind() -> None:
    millis = EPOCH_S * 1000 + 123
    for value in (millis, np.int64(millis)):
        stamp = ts_ms(value)
        assert (stamp.seconds, stamp.nanos) == (EPOCH_S, 123_000_000)
    assert ts_ms(millis + 0.4567).nanos == 123_457_000  # fractions keep microseconds
