"""datetime <-> protobuf Timestamp, one way for every service.

A naive datetime is UTC here (never the machine's local time), an aware one is converted to
UTC, and a Timestamp read back is an aware UTC datetime. `datetime.astimezone(UTC)` is not
used on naive values because it would read them as local time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from numbers import Integral
from typing import overload

from google.protobuf.timestamp_pb2 import Timestamp

# 9999-12-31T23:59:59.999Z in ms: the last instant a protobuf Timestamp holds.
LAST_TIMESTAMP_MS = 253_402_300_799_999


@overload
def ts(value: datetime) -> Timestamp: ...
@overload
def ts(value: None) -> None: ...
@overload
def ts(value: datetime | None) -> Timestamp | None: ...
def ts(value: datetime | None) -> Timestamp | None:
    """A Timestamp for `value`, or None (an unset message field) for None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    stamp = Timestamp()
    stamp.FromDatetime(value.astimezone(UTC))
    return stamp


@overload
def ts_ms(millis: int | float) -> Timestamp: ...
@overload
def ts_ms(millis: None) -> None: ...
@overload
def ts_ms(millis: int | float | None) -> Timestamp | None: ...
def ts_ms(millis: int | float | None) -> Timestamp | None:
    """A Timestamp for milliseconds since the epoch (exchange and candle times), or None."""
    if millis is None:
        return None
    stamp = Timestamp()
    if isinstance(millis, Integral):  # numpy's integers too: exact
        stamp.FromMilliseconds(int(millis))
    else:  # a fractional millisecond keeps microseconds, as datetime would
        stamp.FromNanoseconds(round(float(millis) * 1_000) * 1_000)
    return stamp


def from_ts(stamp: Timestamp) -> datetime:
    """The aware UTC datetime of a Timestamp (exact to the microsecond, toward zero)."""
    return stamp.ToDatetime(tzinfo=UTC)
