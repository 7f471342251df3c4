"""Named indicator sets for GetIndicators: "rsi_14", "macd", "bb_20_2.5", ...

Names carry their parameters so a response key says exactly what was computed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from analysis_svc.domain.candles import Candles, FloatArray
from analysis_svc.domain.errors import NotEnoughCandles
from analysis_svc.domain.indicators import (
    atr,
    atr_min_len,
    bollinger,
    bollinger_min_len,
    ema,
    ema_min_len,
    macd,
    macd_min_len,
    rsi,
    rsi_min_len,
    sma,
    sma_min_len,
)
from mesh.errors import InvalidArgument

# Closed candles to fetch for the default set: the longest lookback (SMA 50) plus room
# for the EMA-based values (EMA, RSI, MACD) to forget their starting point.
RECOMMENDED_INDICATOR_CANDLES = 250
MAX_PERIOD = 500

DEFAULT_INDICATORS: tuple[str, ...] = (
    "sma_20",
    "sma_50",
    "ema_12",
    "ema_26",
    "rsi_14",
    "macd",
    "bb",
    "atr_14",
)


@dataclass(frozen=True, slots=True, eq=False)
class IndicatorSnapshot:
    """Indicator values on the latest closed candle, plus the full series behind them."""

    candle_time_ms: int
    latest: dict[str, float]
    series: dict[str, FloatArray] = field(repr=False)


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """How many candles a named indicator needs and how to compute its series."""

    min_len: int
    compute: Callable[[Candles], dict[str, FloatArray]]


def compute_indicators(
    candles: Candles, names: Sequence[str] = DEFAULT_INDICATORS
) -> IndicatorSnapshot:
    """Computes a named set such as ("rsi_14", "macd", "bb_20_2") on closed candles.

    Names: sma_N, ema_N, rsi_N, atr_N, macd (12/26/9) or macd_F_S_G, bb (20, 2) or bb_N_K.
    Output keys: the name itself for single-series indicators; macd, macd_signal,
    macd_hist for MACD; bb_upper, bb_middle, bb_lower for Bollinger (with the name as
    prefix when parameters are given, e.g. bb_20_2.5_upper).
    """
    specs = [parse_indicator_name(n) for n in names]
    needed = max((s.min_len for s in specs), default=1)
    if len(candles) < needed:
        raise NotEnoughCandles(needed, len(candles), "indicator set")
    series: dict[str, FloatArray] = {}
    for spec in specs:
        series.update(spec.compute(candles))
    latest = {k: float(v[-1]) for k, v in series.items()}
    return IndicatorSnapshot(int(candles.time_ms[-1]), latest, series)


_SINGLE = re.compile(r"^(sma|ema|rsi|atr)_(\d{1,3})$")
_MACD = re.compile(r"^macd(?:_(\d{1,3})_(\d{1,3})_(\d{1,3}))?$")
_BB = re.compile(r"^bb(?:_(\d{1,3})_(\d+(?:\.\d+)?))?$")


def parse_indicator_name(name: str) -> IndicatorSpec:
    """Turns an indicator name into its computation; unknown names are InvalidArgument."""
    if m := _SINGLE.match(name):
        kind, period = m.group(1), _period(name, m.group(2))
        return _single_spec(name, kind, period)
    if m := _MACD.match(name):
        fast, slow, sig = 12, 26, 9
        if m.group(1) is not None:
            fast, slow, sig = (_period(name, g) for g in m.groups())
        if fast >= slow:
            raise InvalidArgument.for_field(
                "indicators", f"{name}: fast >= slow", reason="UNKNOWN_INDICATOR"
            )
        prefix = "macd" if m.group(1) is None else name

        def _macd(c: Candles) -> dict[str, FloatArray]:
            r = macd(c.close, fast, slow, sig)
            return {prefix: r.macd, f"{prefix}_signal": r.signal, f"{prefix}_hist": r.hist}

        return IndicatorSpec(macd_min_len(fast, slow, sig), _macd)
    if m := _BB.match(name):
        period = 20 if m.group(1) is None else _period(name, m.group(1))
        nbdev = 2.0 if m.group(2) is None else float(m.group(2))
        if not 0.1 <= nbdev <= 10.0:
            raise InvalidArgument.for_field(
                "indicators", f"{name}: bad deviation", reason="UNKNOWN_INDICATOR"
            )
        prefix = "bb" if m.group(1) is None else name

        def _bb(c: Candles) -> dict[str, FloatArray]:
            r = bollinger(c.close, period, nbdev)
            return {
                f"{prefix}_upper": r.upper,
                f"{prefix}_middle": r.middle,
                f"{prefix}_lower": r.lower,
            }

        return IndicatorSpec(bollinger_min_len(period), _bb)
    raise InvalidArgument.for_field(
        "indicators", f"unknown indicator {name!r}", reason="UNKNOWN_INDICATOR"
    )


def _single_spec(name: str, kind: str, period: int) -> IndicatorSpec:
    if kind == "sma":
        return IndicatorSpec(sma_min_len(period), lambda c: {name: sma(c.close, period)})
    if kind == "ema":
        return IndicatorSpec(ema_min_len(period), lambda c: {name: ema(c.close, period)})
    if kind == "rsi":
        return IndicatorSpec(rsi_min_len(period), lambda c: {name: rsi(c.close, period)})
    return IndicatorSpec(atr_min_len(period), lambda c: {name: atr(c.high, c.low, c.close, period)})


def _period(name: str, text: str) -> int:
    period = int(text)
    if not 2 <= period <= MAX_PERIOD:
        raise InvalidArgument.for_field(
            "indicators", f"{name}: period must be in [2, {MAX_PERIOD}]", reason="UNKNOWN_INDICATOR"
        )
    return period
