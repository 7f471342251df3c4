"""Quantitative helpers shared by trading_svc and analysis_svc."""

from quant.metrics import PerformanceMetrics, compute_metrics
from quant.periods import periods_per_year_for_timeframe, periods_per_year_from_timestamps

__all__ = [
    "PerformanceMetrics",
    "compute_metrics",
    "periods_per_year_for_timeframe",
    "periods_per_year_from_timestamps",
]
