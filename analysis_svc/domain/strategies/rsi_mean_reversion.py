"""RSI mean reversion: buy an oversold dip, sell an overbought spike."""

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
from analysis_svc.domain.strategies.base import Strategy, level_events
from analysis_svc.domain.strategies.params import REASON, ParamSpec, param_field
from mesh.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class RsiParams:
    period: int = 14
    oversold: float = 30.0
    overbought: float = 70.0


class RsiMeanReversion(Strategy[RsiParams]):
    name = "rsi_mean_reversion"
    description = "BUY while RSI < oversold, SELL while RSI > overbought."
    param_specs = (
        ParamSpec("period", int, 14, 2, 100, "RSI period in candles"),
        ParamSpec("oversold", float, 30.0, 1.0, 49.0, "BUY below this RSI"),
        ParamSpec("overbought", float, 70.0, 51.0, 99.0, "SELL above this RSI"),
    )
    params_type = RsiParams

    def validate(self, params: RsiParams) -> None:
        if params.oversold >= params.overbought:  # unreachable with today's bounds; cheap
            raise InvalidArgument.for_field(
                param_field("oversold"), "oversold must be < overbought", reason=REASON
            )

    def min_candles(self, params: RsiParams) -> int:
        return indicators.rsi_min_len(params.period)

    def signal_series(self, candles: Candles, params: RsiParams) -> SignalSeries:
        rsi = indicators.rsi(candles.close, params.period)
        return level_events(rsi, params.oversold, params.overbought)

    def explain(self, candles: Candles, params: RsiParams, code: int) -> Signal:
        value = float(indicators.rsi(candles.close, params.period)[-1])
        key = f"rsi_{params.period}"
        values = {key: value, "close": float(candles.close[-1])}
        action = Action.from_code(code)
        label = f"RSI({params.period}) {value:.1f}"
        if action is Action.BUY:
            depth = (params.oversold - value) / params.oversold
            return Signal(
                action,
                clip_confidence(0.5 + 0.5 * depth),
                f"{label} below oversold {params.oversold:g}",
                values,
            )
        if action is Action.SELL:
            height = (value - params.overbought) / (100.0 - params.overbought)
            return Signal(
                action,
                clip_confidence(0.5 + 0.5 * height),
                f"{label} above overbought {params.overbought:g}",
                values,
            )
        return Signal(
            action,
            HOLD_CONFIDENCE,
            f"{label} inside [{params.oversold:g}, {params.overbought:g}]",
            values,
        )
