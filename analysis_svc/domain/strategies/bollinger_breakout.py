"""Bollinger breakout: BUY when close breaks above the upper band, SELL when it falls back
below the middle band (the breakout failed or ran its course)."""

from __future__ import annotations

from dataclasses import dataclass

from analysis_svc.domain import indicators
from analysis_svc.domain.candles import Candles
from analysis_svc.domain.signal import (
    HOLD_CONFIDENCE,
    Action,
    Signal,
    SignalSeries,
    clip_confidence,
)
from analysis_svc.domain.strategies.base import Strategy, cross_events
from analysis_svc.domain.strategies.params import ParamSpec


@dataclass(frozen=True, slots=True)
class BollingerParams:
    period: int = 20
    nbdev: float = 2.0


class BollingerBreakout(Strategy[BollingerParams]):
    name = "bollinger_breakout"
    description = "BUY when close crosses above the upper band, SELL when below the middle."
    param_specs = (
        ParamSpec("period", int, 20, 2, 200, "band period in candles"),
        ParamSpec("nbdev", float, 2.0, 0.5, 5.0, "band width in standard deviations"),
    )
    params_type = BollingerParams

    def min_candles(self, params: BollingerParams) -> int:
        return indicators.bollinger_min_len(params.period) + 1  # a cross needs the previous bar

    def signal_series(self, candles: Candles, params: BollingerParams) -> SignalSeries:
        bands = indicators.bollinger(candles.close, params.period, params.nbdev)
        up = cross_events(candles.close - bands.upper)
        down = cross_events(candles.close - bands.middle)
        events = (up > 0).astype("int8")
        events[(down < 0) & (up == 0)] = -1
        return events

    def explain(self, candles: Candles, params: BollingerParams, code: int) -> Signal:
        bands = indicators.bollinger(candles.close, params.period, params.nbdev)
        upper, middle, lower = (float(b[-1]) for b in (bands.upper, bands.middle, bands.lower))
        close = float(candles.close[-1])
        values = {"bb_upper": upper, "bb_middle": middle, "bb_lower": lower, "close": close}
        action = Action.from_code(code)
        half_width = upper - middle
        if action is Action.BUY:
            depth = (close - upper) / half_width if half_width > 0 else 1.0
            return Signal(
                action,
                clip_confidence(0.5 + 0.5 * depth),
                f"close {close:.6g} broke above upper band {upper:.6g}",
                values,
            )
        if action is Action.SELL:
            depth = (middle - close) / half_width if half_width > 0 else 1.0
            return Signal(
                action,
                clip_confidence(0.5 + 0.5 * depth),
                f"close {close:.6g} fell below middle band {middle:.6g}",
                values,
            )
        return Signal(
            action,
            HOLD_CONFIDENCE,
            f"close {close:.6g} inside bands [{lower:.6g}, {upper:.6g}]",
            values,
        )
