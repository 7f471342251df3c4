"""MACD cross: BUY when MACD crosses above its signal line, SELL when it crosses below."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
from analysis_svc.domain.strategies.params import REASON, ParamSpec, param_field
from mesh.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class MacdParams:
    fast: int = 12
    slow: int = 26
    signal: int = 9


class MacdCross(Strategy[MacdParams]):
    name = "macd_cross"
    description = "BUY when the MACD histogram turns positive, SELL when it turns negative."
    param_specs = (
        ParamSpec("fast", int, 12, 2, 100, "fast EMA period"),
        ParamSpec("slow", int, 26, 3, 200, "slow EMA period"),
        ParamSpec("signal", int, 9, 2, 100, "signal-line EMA period"),
    )
    params_type = MacdParams

    def validate(self, params: MacdParams) -> None:
        if params.fast >= params.slow:
            raise InvalidArgument.for_field(
                param_field("fast"), "fast must be < slow", reason=REASON
            )

    def min_candles(self, params: MacdParams) -> int:
        return indicators.macd_min_len(params.fast, params.slow, params.signal) + 1

    def signal_series(self, candles: Candles, params: MacdParams) -> SignalSeries:
        m = indicators.macd(candles.close, params.fast, params.slow, params.signal)
        return cross_events(m.hist)

    def explain(self, candles: Candles, params: MacdParams, code: int) -> Signal:
        m = indicators.macd(candles.close, params.fast, params.slow, params.signal)
        hist = float(m.hist[-1])
        values = {
            "macd": float(m.macd[-1]),
            "macd_signal": float(m.signal[-1]),
            "macd_hist": hist,
            "close": float(candles.close[-1]),
        }
        action = Action.from_code(code)
        if action is Action.HOLD:
            side = "above" if hist > 0 else "below"
            return Signal(action, HOLD_CONFIDENCE, f"no cross; MACD {side} signal", values)
        # Confidence grows with the histogram's size relative to its recent spread.
        recent = m.hist[-2 * params.slow :]
        spread = float(np.nanstd(recent)) if np.isfinite(recent).sum() > 1 else 0.0
        strength = abs(hist) / spread if spread > 0 else 1.0
        word = "above" if action is Action.BUY else "below"
        return Signal(
            action,
            clip_confidence(0.5 + 0.25 * strength),
            f"MACD crossed {word} signal (hist {hist:.4g})",
            values,
        )
