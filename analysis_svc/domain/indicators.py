"""Technical indicators on float64 arrays, computed by TA-Lib.

Thin wrappers so every caller gets the same length checks (a clear NotEnoughCandles
instead of an all-NaN array) and the same parameter conventions as the strategies.
Outputs are full-length arrays with NaN during the warm-up, exactly as TA-Lib returns them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import talib

from analysis_svc.domain.candles import FloatArray
from analysis_svc.domain.errors import NotEnoughCandles
from mesh.errors import InvalidArgument


@dataclass(frozen=True, slots=True, eq=False)
class MacdSeries:
    macd: FloatArray
    signal: FloatArray
    hist: FloatArray


@dataclass(frozen=True, slots=True, eq=False)
class BollingerSeries:
    upper: FloatArray
    middle: FloatArray
    lower: FloatArray


# Minimum input lengths for one non-NaN output (TA-Lib lookback + 1).
def sma_min_len(period: int) -> int:
    return period


def ema_min_len(period: int) -> int:
    return period


def rsi_min_len(period: int) -> int:
    return period + 1


def macd_min_len(fast: int, slow: int, signal: int) -> int:
    return slow + signal - 1


def bollinger_min_len(period: int) -> int:
    return period


def atr_min_len(period: int) -> int:
    return period + 1


def sma(close: FloatArray, period: int) -> FloatArray:
    _check(close, sma_min_len(period), f"SMA({period})")
    return _f64(talib.SMA(close, timeperiod=period))


def ema(close: FloatArray, period: int) -> FloatArray:
    _check(close, ema_min_len(period), f"EMA({period})")
    return _f64(talib.EMA(close, timeperiod=period))


def rsi(close: FloatArray, period: int) -> FloatArray:
    _check(close, rsi_min_len(period), f"RSI({period})")
    return _f64(talib.RSI(close, timeperiod=period))


def macd(close: FloatArray, fast: int, slow: int, signal: int) -> MacdSeries:
    if fast >= slow:
        # TA-Lib silently swaps them; a caller asking for fast >= slow made a mistake.
        raise InvalidArgument.for_field(
            "fast", "fast must be < slow", reason="INVALID_INDICATOR_PARAMETER"
        )
    _check(close, macd_min_len(fast, slow, signal), f"MACD({fast},{slow},{signal})")
    m, s, h = talib.MACD(close, fastperiod=fast, slowperiod=slow, signalperiod=signal)
    return MacdSeries(_f64(m), _f64(s), _f64(h))


def bollinger(close: FloatArray, period: int, nbdev: float) -> BollingerSeries:
    _check(close, bollinger_min_len(period), f"BBANDS({period},{nbdev:g})")
    u, m, lo = talib.BBANDS(
        close, timeperiod=period, nbdevup=nbdev, nbdevdn=nbdev, matype=talib.MA_Type.SMA
    )
    return BollingerSeries(_f64(u), _f64(m), _f64(lo))


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    _check(close, atr_min_len(period), f"ATR({period})")
    return _f64(talib.ATR(high, low, close, timeperiod=period))


def _check(values: FloatArray, needed: int, what: str) -> None:
    if values.shape[0] < needed:
        raise NotEnoughCandles(needed, int(values.shape[0]), what)


def _f64(values: object) -> FloatArray:
    return np.asarray(values, dtype=np.float64)
