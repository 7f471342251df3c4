"""Column-oriented OHLCV arrays, the one input shape of indicators, strategies and backtests.

Columns rather than candle objects so TA-Lib and numpy work on them without copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from analysis_svc.domain.errors import UnusableCandles

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_Number = str | float | int | Decimal


@dataclass(frozen=True, slots=True, eq=False)
class Candles:
    """Closed candles in time order; `time_ms` is each candle's open time (epoch ms)."""

    time_ms: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        n = self.time_ms.shape
        for name in ("open", "high", "low", "close", "volume"):
            col: FloatArray = getattr(self, name)
            if col.dtype != np.float64 or col.ndim != 1 or col.shape != n:
                raise UnusableCandles(f"{name} must be float64 with {n[0]} rows")
            if not np.all(np.isfinite(col)):
                raise UnusableCandles(f"{name} has NaN or inf")
        if self.time_ms.dtype != np.int64 or self.time_ms.ndim != 1:
            raise UnusableCandles("time_ms must be int64")
        if n[0] > 1 and not np.all(np.diff(self.time_ms) > 0):
            raise UnusableCandles("times must be increasing")

    def __len__(self) -> int:
        return int(self.time_ms.shape[0])

    @classmethod
    def from_columns(
        cls,
        time_ms: Sequence[int] | IntArray,
        open: Sequence[_Number] | FloatArray,
        high: Sequence[_Number] | FloatArray,
        low: Sequence[_Number] | FloatArray,
        close: Sequence[_Number] | FloatArray,
        volume: Sequence[_Number] | FloatArray,
    ) -> Candles:
        """Builds from lists; accepts the decimal strings of the wire format."""
        return cls(
            time_ms=np.asarray(time_ms, dtype=np.int64),
            open=_floats(open),
            high=_floats(high),
            low=_floats(low),
            close=_floats(close),
            volume=_floats(volume),
        )

    def tail(self, n: int) -> Candles:
        """The last n candles (views, no copy): enough history for the latest values."""
        return Candles(
            self.time_ms[-n:],
            self.open[-n:],
            self.high[-n:],
            self.low[-n:],
            self.close[-n:],
            self.volume[-n:],
        )


def _floats(values: Sequence[_Number] | FloatArray) -> FloatArray:
    if isinstance(values, np.ndarray):
        return np.ascontiguousarray(values, dtype=np.float64)
    try:
        return np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UnusableCandles(f"not a number: {exc}") from None
