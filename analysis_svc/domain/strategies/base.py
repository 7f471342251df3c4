"""The Strategy interface and a strategy bound to parsed parameters.

A strategy produces one vectorised signal series; the latest signal is read off the
same series, so Analyze and a backtest can never disagree about what the rule says.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

from analysis_svc.domain.candles import Candles, FloatArray
from analysis_svc.domain.errors import NotEnoughCandles
from analysis_svc.domain.signal import Signal, SignalSeries
from analysis_svc.domain.strategies.params import (
    ParamSpec,
    ParamValue,
    ParamValues,
    canonical_params,
    parse_params,
)

P = TypeVar("P")

# Extra candles beyond the strict minimum so EMA-based indicators (RSI, MACD) have
# converged: TA-Lib's values right after the lookback still depend on the start point.
WARMUP_CANDLES = 100


class Strategy(ABC, Generic[P]):
    """A named, parameterised, rule-based strategy; stateless, so one instance is shared."""

    name: ClassVar[str]
    description: ClassVar[str]
    param_specs: ClassVar[tuple[ParamSpec, ...]]
    params_type: type[P]

    def parse_params(self, raw: Mapping[str, ParamValue]) -> P:
        """Parses the wire's parameter map; raises InvalidArgument naming the parameter."""
        params = self.params_type(**parse_params(self.param_specs, raw))
        self.validate(params)
        return params

    def validate(self, params: P) -> None:
        """Cross-parameter checks (e.g. fast < slow); raise InvalidArgument."""

    @abstractmethod
    def min_candles(self, params: P) -> int:
        """Fewest closed candles for which the latest bar has a defined signal."""

    @abstractmethod
    def signal_series(self, candles: Candles, params: P) -> SignalSeries:
        """+1/-1/0 per bar, decided on that bar's close; 0 during warm-up."""

    @abstractmethod
    def explain(self, candles: Candles, params: P, code: int) -> Signal:
        """Confidence, rationale and indicator values for the latest bar's `code`."""


@dataclass(frozen=True, slots=True)
class BoundStrategy:
    """A strategy with validated parameters: what Analyze and backtests run."""

    strategy: Strategy[Any]
    params: Any

    @property
    def name(self) -> str:
        return self.strategy.name

    @property
    def min_candles(self) -> int:
        return self.strategy.min_candles(self.params)

    @property
    def recommended_candles(self) -> int:
        """How many closed candles to fetch for Analyze/GetIndicators-quality values."""
        return self.min_candles + WARMUP_CANDLES

    def params_dict(self) -> ParamValues:
        return dict(dataclasses.asdict(self.params))

    def canonical_params(self) -> str:
        return canonical_params(self.params_dict())

    def signal_series(self, candles: Candles) -> SignalSeries:
        self._check_length(candles)
        return self.strategy.signal_series(candles, self.params)

    def signal(self, candles: Candles) -> Signal:
        """The signal on the latest closed candle."""
        series = self.signal_series(candles)
        return self.strategy.explain(candles, self.params, int(series[-1]))

    def _check_length(self, candles: Candles) -> None:
        if len(candles) < self.min_candles:
            raise NotEnoughCandles(self.min_candles, len(candles), f"strategy {self.name}")


def cross_events(diff: FloatArray) -> SignalSeries:
    """+1 where `diff` turns positive (crosses up), -1 where it turns negative; NaN-safe."""
    events = np.zeros(diff.shape[0], dtype=np.int8)
    prev, cur = diff[:-1], diff[1:]
    with np.errstate(invalid="ignore"):
        events[1:][(prev <= 0.0) & (cur > 0.0)] = 1
        events[1:][(prev >= 0.0) & (cur < 0.0)] = -1
    return events


def level_events(values: FloatArray, buy_below: float, sell_above: float) -> SignalSeries:
    """+1 while below `buy_below`, -1 while above `sell_above`; NaN gives 0."""
    events = np.zeros(values.shape[0], dtype=np.int8)
    with np.errstate(invalid="ignore"):
        events[values < buy_below] = 1
        events[values > sell_above] = -1
    return events
