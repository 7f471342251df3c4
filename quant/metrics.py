"""Performance metrics shared by trading performance reports and backtests.

One implementation on purpose: a live subscription and a backtest of the same strategy
must be judged by the same arithmetic, or their numbers cannot be compared.

Conventions (all documented here because the wire format has no room for caveats):
- Returns are simple per-period returns of the equity curve; risk-free rate is 0.
- Sharpe = mean(r) / std(r, ddof=1) * sqrt(periods_per_year).
- Sortino = mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(periods_per_year)
  (downside deviation against a 0 target, over all periods).
- A ratio whose denominator is ~0 (flat curve, no downside, fewer than two returns) is 0.0:
  callers never see NaN or inf.
- Max drawdown is a positive fraction of the running peak (0.25 = 25 % below the peak).
- Profit factor = gross profit / gross loss over closed trades; None when there was no
  losing trade (undefined rather than infinite). `profit_factor_or_zero` gives the wire
  convention ("0 when there were no losses").
- Win rate counts trades with pnl > 0; a break-even trade is not a win.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quant.periods import periods_per_year_from_timestamps

# Below this a standard deviation is treated as zero: avoids 1e17 Sharpe ratios from
# rounding noise on a flat or constant-return curve.
_ZERO_STD = 1e-12


@dataclass(frozen=True, slots=True)
class PerformanceMetrics:
    """Summary of an equity curve and its closed trades."""

    total_return: float
    win_rate: float
    max_drawdown: float
    sharpe: float
    sortino: float
    profit_factor: float | None
    trade_count: int
    final_equity: float

    @property
    def profit_factor_or_zero(self) -> float:
        """Profit factor as the protos carry it: 0 when undefined (no losing trade)."""
        return 0.0 if self.profit_factor is None else self.profit_factor


def compute_metrics(
    equity: npt.ArrayLike,
    trade_pnls: npt.ArrayLike = (),
    *,
    periods_per_year: float | None = None,
    timestamps: npt.ArrayLike | None = None,
) -> PerformanceMetrics:
    """Computes PerformanceMetrics from an equity curve and closed-trade PnLs.

    `periods_per_year` annualises Sharpe/Sortino; when omitted it is inferred from
    `timestamps` (epoch milliseconds, one per equity point). One of them is required
    once the curve has at least two points.
    """
    curve = _as_finite_1d(equity, "equity")
    pnls = _as_finite_1d(trade_pnls, "trade_pnls")
    if curve.size == 0:
        raise ValueError("equity curve is empty")
    if curve[0] <= 0.0:
        raise ValueError("equity curve must start positive")

    ppy = _resolve_periods_per_year(curve.size, periods_per_year, timestamps)
    returns = _period_returns(curve)
    return PerformanceMetrics(
        total_return=float(curve[-1] / curve[0] - 1.0),
        win_rate=win_rate(pnls),
        max_drawdown=max_drawdown(curve),
        sharpe=sharpe_ratio(returns, ppy),
        sortino=sortino_ratio(returns, ppy),
        profit_factor=profit_factor(pnls),
        trade_count=int(pnls.size),
        final_equity=float(curve[-1]),
    )


def max_drawdown(equity: npt.NDArray[np.float64]) -> float:
    """Largest fall from a running peak, as a positive fraction of that peak."""
    if equity.size == 0:
        return 0.0
    peaks = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdowns = np.where(peaks > 0.0, 1.0 - equity / peaks, 0.0)
    return float(max(0.0, drawdowns.max()))


def sharpe_ratio(returns: npt.NDArray[np.float64], periods_per_year: float) -> float:
    """Annualised Sharpe with risk-free 0; 0.0 when undefined."""
    if returns.size < 2:
        return 0.0
    std = float(returns.std(ddof=1))
    if std <= _ZERO_STD:
        return 0.0
    return _finite(float(returns.mean()) / std * math.sqrt(periods_per_year))


def sortino_ratio(returns: npt.NDArray[np.float64], periods_per_year: float) -> float:
    """Annualised Sortino with target 0; 0.0 when there is no downside."""
    if returns.size < 2:
        return 0.0
    downside = np.minimum(returns, 0.0)
    dd = float(np.sqrt(np.mean(downside * downside)))
    if dd <= _ZERO_STD:
        return 0.0
    return _finite(float(returns.mean()) / dd * math.sqrt(periods_per_year))


def win_rate(pnls: npt.NDArray[np.float64]) -> float:
    """Share of trades with a strictly positive PnL; 0.0 without trades."""
    if pnls.size == 0:
        return 0.0
    return float(np.count_nonzero(pnls > 0.0) / pnls.size)


def profit_factor(pnls: npt.NDArray[np.float64]) -> float | None:
    """Gross profit over gross loss; None when no trade lost money."""
    gross_loss = float(-pnls[pnls < 0.0].sum())
    if gross_loss <= 0.0:
        return None
    return _finite(float(pnls[pnls > 0.0].sum()) / gross_loss)


def _period_returns(equity: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    prev = equity[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(prev != 0.0, equity[1:] / prev - 1.0, 0.0)
    return np.asarray(returns, dtype=np.float64)


def _resolve_periods_per_year(
    n_points: int, periods_per_year: float | None, timestamps: npt.ArrayLike | None
) -> float:
    if periods_per_year is not None:
        if not np.isfinite(periods_per_year) or periods_per_year <= 0.0:
            raise ValueError("periods_per_year must be a positive number")
        return float(periods_per_year)
    if timestamps is not None:
        times = np.asarray(timestamps, dtype=np.int64)
        if times.shape != (n_points,):
            raise ValueError("timestamps must have one entry per equity point")
        return periods_per_year_from_timestamps(times)
    if n_points < 2:
        return 1.0  # nothing to annualise
    raise ValueError("periods_per_year or timestamps is required")


def _as_finite_1d(values: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def _finite(value: float) -> float:
    return float(value) if math.isfinite(value) else 0.0
