"""Kline interval arithmetic: which candle open times a klines request covers.

Kept separate from the price model because Binance's alignment rules (weeks open on Monday,
months on the 1st) and its startTime/endTime/limit semantics are independent of prices.
"""

from __future__ import annotations

from datetime import UTC, datetime

from exchange_sim import errors

_MIN = 60_000
_DAY = 1440 * _MIN
_MONDAY_OFFSET = 4 * _DAY  # 1970-01-01 was a Thursday; weekly candles open on Mondays

INTERVAL_MS: dict[str, int] = {
    "1s": 1000,
    "1m": _MIN,
    "3m": 3 * _MIN,
    "5m": 5 * _MIN,
    "15m": 15 * _MIN,
    "30m": 30 * _MIN,
    "1h": 60 * _MIN,
    "2h": 120 * _MIN,
    "4h": 240 * _MIN,
    "6h": 360 * _MIN,
    "8h": 480 * _MIN,
    "12h": 720 * _MIN,
    "1d": _DAY,
    "3d": 3 * _DAY,
    "1w": 7 * _DAY,
}
MONTH = "1M"


def validate(interval: str) -> str:
    """Return ``interval`` if Binance knows it, else raise -1120."""
    if interval != MONTH and interval not in INTERVAL_MS:
        raise errors.bad_interval()
    return interval


def _month_start(t_ms: int, shift: int = 0) -> int:
    dt = datetime.fromtimestamp(t_ms / 1000, UTC)
    month_index = dt.year * 12 + dt.month - 1 + shift
    year, month = divmod(month_index, 12)
    return int(datetime(year, month + 1, 1, tzinfo=UTC).timestamp() * 1000)


def align_down(interval: str, t_ms: int) -> int:
    """Open time of the candle containing ``t_ms``."""
    if interval == MONTH:
        return _month_start(t_ms)
    step = INTERVAL_MS[interval]
    offset = _MONDAY_OFFSET if interval == "1w" else 0
    return (t_ms - offset) // step * step + offset


def next_open(interval: str, open_ms: int) -> int:
    """Open time of the candle after the one opening at ``open_ms``."""
    if interval == MONTH:
        return _month_start(open_ms, 1)
    return open_ms + INTERVAL_MS[interval]


def prev_open(interval: str, open_ms: int) -> int:
    """Open time of the candle before the one opening at ``open_ms``."""
    if interval == MONTH:
        return _month_start(open_ms, -1)
    return open_ms - INTERVAL_MS[interval]


def open_times(
    interval: str, start_ms: int | None, end_ms: int | None, limit: int, now_ms: int
) -> list[int]:
    """Candle open times a Binance klines request returns, oldest first.

    With ``startTime`` candles open at or after it, going forward; otherwise the ``limit`` most
    recent candles up to ``endTime`` (or now).  Candles never open in the future.
    """
    upper = now_ms if end_ms is None else min(end_ms, now_ms)
    out: list[int] = []
    if start_ms is not None:
        t = align_down(interval, start_ms)
        if t < start_ms:
            t = next_open(interval, t)
        while t <= upper and len(out) < limit:
            out.append(t)
            t = next_open(interval, t)
        return out
    if upper < 0:
        return out
    t = align_down(interval, upper)
    while len(out) < limit:
        out.append(t)
        t = prev_open(interval, t)
    out.reverse()
    return out
