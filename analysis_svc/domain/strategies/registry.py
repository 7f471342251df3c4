"""The registered strategies, by the name clients send in StrategySpec.name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analysis_svc.domain.strategies.base import BoundStrategy, Strategy
from analysis_svc.domain.strategies.bollinger_breakout import BollingerBreakout
from analysis_svc.domain.strategies.ma_crossover import MaCrossover
from analysis_svc.domain.strategies.macd_cross import MacdCross
from analysis_svc.domain.strategies.params import ParamValue
from analysis_svc.domain.strategies.rsi_mean_reversion import RsiMeanReversion
from mesh.errors import InvalidArgument

STRATEGIES: Mapping[str, Strategy[Any]] = {
    s.name: s for s in (RsiMeanReversion(), MacdCross(), MaCrossover(), BollingerBreakout())
}


def get_strategy(name: str) -> Strategy[Any]:
    try:
        return STRATEGIES[name]
    except KeyError:
        known = ", ".join(sorted(STRATEGIES))
        raise InvalidArgument.for_field(
            "strategy.name",
            f"unknown strategy {name!r} (known: {known})",
            reason="UNKNOWN_STRATEGY",
        ) from None


def resolve_strategy(name: str, params: Mapping[str, ParamValue] | None = None) -> BoundStrategy:
    """Looks up a strategy and validates its parameters: the entry point for servicers."""
    strategy = get_strategy(name)
    return BoundStrategy(strategy, strategy.parse_params(params or {}))
