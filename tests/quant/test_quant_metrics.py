"""Hand-computed cases for quant.metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quant import PerformanceMetrics, compute_metrics, periods_per_year_for_timeframe
from quant.metrics import max_drawdown, profit_factor


def test_small_curve_matches_hand_computation() -> None:
    # returns: +10 %, -10 %, +22.2 %
    m = compute_metrics(
        [100.0, 110.0, 99.0, 121.0], [10.0, -5.0, 20.0, 0.0, -5.0], periods_per_year=4.0
    )
    r = [0.1, -0.1, 22.0 / 99.0]
    mean = sum(r) / 3
    std = math.sqrt(sum((x - mean) ** 2 for x in r) / 2)
    downside = math.sqrt((0.1**2) / 3)
    assert m.total_return == pytest.approx(0.21)
    assert m.max_drawdown == pytest.approx(0.1)
    assert m.sharpe == pytest.approx(mean / std * 2.0)  # sqrt(4) = 2
    assert m.sortino == pytest.approx(mean / downside * 2.0)
    assert m.win_rate == pytest.approx(0.4)  # break-even trade is not a win
    assert m.profit_factor == pytest.approx(3.0)  # 30 / 10
    assert m.trade_count == 5
    assert m.final_equity == 121.0


def test_flat_curve_gives_zero_ratios_not_nan() -> None:
    m = compute_metrics(np.full(50, 1000.0), [], periods_per_year=365.0)
    assert (m.total_return, m.sharpe, m.sortino, m.max_drawdown) == (0.0, 0.0, 0.0, 0.0)
    assert m.win_rate == 0.0 and m.trade_count == 0 and m.profit_factor is None


def test_constant_growth_has_zero_variance_and_no_downside() -> None:
    curve = 100.0 * 1.01 ** np.arange(20)
    m = compute_metrics(curve, [5.0, 7.0], periods_per_year=252.0)
    assert m.sharpe == 0.0 and m.sortino == 0.0
    assert m.max_drawdown == 0.0
    assert m.profit_factor is None and m.profit_factor_or_zero == 0.0
    assert m.win_rate == 1.0


def test_single_point_curve() -> None:
    m = compute_metrics([500.0])
    assert m == PerformanceMetrics(0.0, 0.0, 0.0, 0.0, 0.0, None, 0, 500.0)


def test_drawdown_uses_running_peak() -> None:
    assert max_drawdown(np.array([100.0, 200.0, 150.0, 300.0, 60.0, 400.0])) == pytest.approx(0.8)


def test_profit_factor_only_losses_is_zero() -> None:
    assert profit_factor(np.array([-1.0, -2.0])) == 0.0


def test_periods_inferred_from_timestamps() -> None:
    hour = 3_600_000
    times = np.arange(4) * hour
    by_ts = compute_metrics([100.0, 110.0, 99.0, 121.0], timestamps=times)
    by_tf = compute_metrics(
        [100.0, 110.0, 99.0, 121.0], periods_per_year=periods_per_year_for_timeframe("1h")
    )
    assert by_ts.sharpe == pytest.approx(by_tf.sharpe)
    assert periods_per_year_for_timeframe("1d") == 365.0


@pytest.mark.parametrize(
    ("equity", "kwargs"),
    [
        ([], {"periods_per_year": 1.0}),
        ([0.0, 1.0], {"periods_per_year": 1.0}),
        ([1.0, float("nan")], {"periods_per_year": 1.0}),
        ([1.0, 2.0], {}),
        ([1.0, 2.0], {"periods_per_year": 0.0}),
        ([[1.0, 2.0]], {"periods_per_year": 1.0}),
    ],
)
def test_invalid_inputs_raise_value_error(equity: list[float], kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        compute_metrics(equity, **kwargs)  # type: ignore[arg-type]


def test_unknown_timeframe() -> None:
    with pytest.raises(ValueError):
        periods_per_year_for_timeframe("7m")


def test_metrics_are_frozen() -> None:
    m = compute_metrics([1.0, 2.0], periods_per_year=1.0)
    with pytest.raises(AttributeError):
        m.sharpe = 1.0  # type: ignore[misc]
