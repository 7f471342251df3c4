"""Named, parameterised, rule-based strategies."""

from analysis_svc.domain.strategies.base import BoundStrategy, Strategy
from analysis_svc.domain.strategies.params import ParamSpec, ParamValue, canonical_params
from analysis_svc.domain.strategies.registry import STRATEGIES, get_strategy, resolve_strategy

__all__ = [
    "STRATEGIES",
    "BoundStrategy",
    "ParamSpec",
    "ParamValue",
    "Strategy",
    "canonical_params",
    "get_strategy",
    "resolve_strategy",
]
