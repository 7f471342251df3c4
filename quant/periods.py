"""Periods-per-year for annualising ratios of 24/7 crypto markets.

Kept beside the metrics so backtests and live reports annualise identically.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

MS_PER_YEAR = 365 * 24 * 3600 * 1000  # crypto trades every day of the year

TIMEFRAME_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 3 * 60_000,
    "5m": 5 * 60_000,
    "15m": 15 * 60_000,
    "30m": 30 * 60_000,
    "1h": 3_600_000,
    "2h": 2 * 3_600_000,
    "4h": 4 * 3_600_000,
    "6h": 6 * 3_600_000,
    "12h": 12 * 3_600_000,
    "1d": 24 * 3_600_000,
}


def periods_per_year_for_timeframe(timeframe: str) -> float:
    """Bars per year of a timeframe such as "1h"; KeyError-free: raises ValueError."""
    try:
        return MS_PER_YEAR / TIMEFRAME_MS[timeframe]
    except KeyError:
        raise ValueError(f"unknown timeframe {timeframe!r}") from None


def periods_per_year_from_timestamps(timestamps_ms: npt.NDArray[np.int64]) -> float:
    """Infers bars per year from the median spacing of epoch-millisecond timestamps.

    The median ignores gaps from exchange outages that a mean would smear in.
    """
    if timestamps_ms.size < 2:
        return 1.0
    spacing = float(np.median(np.diff(timestamps_ms)))
    if spacing <= 0.0:
        raise ValueError("timestamps must be increasing")
    return MS_PER_YEAR / spacing
