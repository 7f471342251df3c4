"""Moving-average crossover: BUY on a golden cross, SELL on a death cross (SMAs)."""

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
from analysis_svc.domain.strategies.params import REASON, ParamSpec, param_field
from mesh.errors import InvalidArgument

# A gap of 1 % of price between the averages on the crossing bar earns full confidence.
_FULL_CONFIDENCE_GAP = 0.01


@dataclass(frozen=True, slots=True)
class MaCrossoverParams:
    fast: int = 10
    slow: int = 30


class MaCrossover(Strategy[MaCrossoverParams]):
    name = "ma_crossover"
    description = "BUY when SMA(fast) crosses above SMA(slow), SELL when it crosses below."
    param_specs = (
        ParamSpec("fast", int, 10, 2, 200, "fast SMA period"),
        ParamSpec("slow", int, 30, 3, 400, "slow SMA period"),
    )
    params_type = MaCrossoverParams

    def validate(self, params: MaCrossoverParams) -> None:
        if params.fast >= params.slow:
            raise InvalidArgument.for_field(
                param_field("fast"), "fast must be < slow", reason=REASON
            )

    def min_candles(self, params: MaCrossoverParams) -> int:
        return indicators.sma_min_len(params.slow) + 1  # a cross needs the previous bar

    def signal_series(self, candles: Candles, params: MaCrossoverParams) -> SignalSeries:
        fast = indicators.sma(candles.close, params.fast)
        slow = indicators.sma(candles.close, params.slow)
        return cross_events(fast - slow)

    def explain(self, candles: Candles, params: MaCrossoverParams, code: int) -> Signal:
        fast = float(indicators.sma(candles.close, params.fast)[-1])
        slow = float(indicators.sma(candles.close, params.slow)[-1])
        values = {
            f"sma_{params.fast}": fast,
            f"sma_{params.slow}": slow,
            "close": float(candles.close[-1]),
        }
        action = Action.from_code(code)
        names = f"SMA({params.fast}) {fast:.6g} / SMA({params.slow}) {slow:.6g}"
        if action is Action.HOLD:
            side = "above" if fast > slow else "below"
            return Signal(action, HOLD_CONFIDENCE, f"no cross; fast {side} slow: {names}", values)
        gap = abs(fast - slow) / abs(slow) if slow else 0.0
        confidence = clip_confidence(0.5 + 0.5 * gap / _FULL_CONFIDENCE_GAP)
        word = "golden cross" if action is Action.BUY else "death cross"
        return Signal(action, confidence, f"{word}: {names}", values)
