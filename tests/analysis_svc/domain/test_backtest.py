"""Backtest: hand-computed trades and metrics, input validation, progress, cancellation."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from analysis_svc.domain.backtest import (
    BacktestSettings,
    held_positions,
    run_backtest,
    validate_time_range,
)
from analysis_svc.domain.candles import Candles
from analysis_svc.domain.decimal_text import format_decimal
from analysis_svc.domain.errors import BacktestCancelled, NotEnoughCandles
from analysis_svc.domain.strategies import BoundStrategy, resolve_strategy
from analysis_svc.domain.synthetic import candles_from_closes
from bench.backtest_speed import measure_backtest_speed
from mesh.errors import FailedPrecondition, InvalidArgument
from quant import compute_metrics

# SMA(2) vs SMA(3) on these closes crosses up on bar 6 and down on bar 9 (see test).
CLOSES = [10.0, 10.0, 10.0, 9.0, 8.0, 9.0, 11.0, 12.0, 11.0, 9.0, 8.0, 8.0]
HOUR = 3_600_000


def ma_2_3() -> BoundStrategy:
    return resolve_strategy("ma_crossover", {"fast": "2", "slow": "3"})


def test_hand_computed_single_trade() -> None:
    candles = candles_from_closes(CLOSES, step_ms=HOUR)  # open[i] = close[i - 1]
    settings = BacktestSettings(1000.0, fee_rate=0.001, slippage_bps=10, periods_per_year=8760)
    result = run_backtest(candles, ma_2_3(), settings)

    # BUY decided at bar 6's close, filled at bar 7's open (= 11) plus 10 bps slippage;
    # SELL decided at bar 9's close, filled at bar 10's open (= 9) minus 10 bps.
    entry, exit_ = 11.0 * 1.001, 9.0 * 0.999
    qty = 1000.0 / (entry * 1.001)  # notional + 0.1 % fee = the whole balance
    proceeds = qty * exit_ * 0.999
    assert len(result.trades) == 1
    t = result.trades[0]
    assert (t.entry_time_ms, t.exit_time_ms) == (candles.time_ms[7], candles.time_ms[10])
    assert t.entry_price == pytest.approx(entry) and t.exit_price == pytest.approx(exit_)
    assert t.quantity == pytest.approx(qty)
    assert t.fee == pytest.approx(qty * entry * 0.001 + qty * exit_ * 0.001)
    assert t.pnl == pytest.approx(proceeds - 1000.0)
    assert not t.forced_exit

    expected_curve = [1000.0] * 7 + [qty * 12, qty * 11, qty * 9, proceeds, proceeds]
    np.testing.assert_allclose(result.equity, expected_curve)
    m = result.metrics
    assert m.total_return == pytest.approx(proceeds / 1000.0 - 1.0)
    assert m.max_drawdown == pytest.approx(1.0 - proceeds / (qty * 12))
    assert (m.trade_count, m.win_rate, m.profit_factor) == (1, 0.0, 0.0)
    ref = compute_metrics(expected_curve, [proceeds - 1000.0], periods_per_year=8760)
    assert m.sharpe == pytest.approx(ref.sharpe) and m.sortino == pytest.approx(ref.sortino)
    assert m.sharpe < 0
    assert result.final_equity == pytest.approx(proceeds)


def test_forced_exit_and_compounding() -> None:
    # Two golden crosses: the second position is still open when the data ends.
    closes = [*CLOSES, 9.0, 10.0, 12.0, 13.0]
    candles = candles_from_closes(closes)
    result = run_backtest(candles, ma_2_3(), BacktestSettings(1000.0, 0.0, 0.0))
    first, second = result.trades
    assert not first.forced_exit and second.forced_exit
    # First trade, no costs: 1000 / 11 units sold at 9.
    assert first.pnl == pytest.approx(1000.0 / 11 * 9 - 1000.0)
    # Second entry uses the first trade's proceeds; the forced exit is at the last bar's
    # open (= the previous close, 12), as freqtrade closes a trade left open.
    cash = 1000.0 / 11 * 9
    assert second.quantity == pytest.approx(cash / second.entry_price)
    assert second.exit_price == 12.0 and second.exit_time_ms == candles.time_ms[-1]
    assert result.final_equity == pytest.approx(second.quantity * 12.0)
    assert result.metrics.trade_count == 2


def test_no_signal_means_flat_equity(walk: Candles) -> None:
    flat = candles_from_closes([100.0] * 50)
    result = run_backtest(flat, ma_2_3(), BacktestSettings(500.0))
    assert result.trades == () and (result.equity == 500.0).all()
    assert result.metrics.sharpe == 0.0 and result.metrics.total_return == 0.0


def test_held_positions_ignore_repeats_and_delay_one_bar() -> None:
    signals = np.array([0, 1, 1, 0, -1, -1, 1, 0], dtype=np.int8)
    assert held_positions(signals).tolist() == [0, 0, 1, 1, 1, 0, 0, 1]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"initial_balance": 0.0}, "initial_balance"),
        ({"initial_balance": -5.0}, "initial_balance"),
        ({"initial_balance": float("nan")}, "initial_balance"),
        ({"initial_balance": 1.0, "fee_rate": -0.001}, "fee_rate"),
        ({"initial_balance": 1.0, "fee_rate": 0.5}, "fee_rate"),
        ({"initial_balance": 1.0, "slippage_bps": 1001}, "slippage_bps"),
    ],
)
def test_invalid_settings(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        BacktestSettings(**kwargs)
    assert err.value.metadata["field"] == field and err.value.reason == "INVALID_BACKTEST_PARAMETER"


def test_settings_from_wire_strings() -> None:
    s = BacktestSettings.from_wire("10000", "0.001", 5)
    assert (s.initial_balance, s.fee_rate, s.slippage_bps) == (10000.0, 0.001, 5.0)
    assert BacktestSettings.from_wire("1", "").fee_rate == 0.001
    for balance, fee in [("abc", "0"), ("NaN", "0"), ("10", "1e9"), ("0", "0")]:
        with pytest.raises(InvalidArgument):
            BacktestSettings.from_wire(balance, fee)


def test_empty_and_too_short_ranges() -> None:
    empty = Candles.from_columns([], [], [], [], [], [])
    with pytest.raises(FailedPrecondition) as err:
        run_backtest(empty, ma_2_3(), BacktestSettings(100.0))
    assert err.value.reason == "EMPTY_BACKTEST_RANGE"
    with pytest.raises(NotEnoughCandles):
        run_backtest(candles_from_closes([1.0, 2.0, 3.0]), ma_2_3(), BacktestSettings(100.0))
    with pytest.raises(InvalidArgument) as bad_range:
        validate_time_range(2000, 1000)
    assert bad_range.value.metadata["field"] == "end_time"


def test_progress_and_cancellation(walk: Candles) -> None:
    seen: list[float] = []
    settings = BacktestSettings(1000.0)
    macd = resolve_strategy("macd_cross")
    run_backtest(walk, macd, settings, progress=seen.append, chunk_size=500)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen) and len(seen) >= 6

    cancel = threading.Event()

    def cancel_midway(fraction: float) -> None:
        if fraction > 0.5:
            cancel.set()

    with pytest.raises(BacktestCancelled):
        run_backtest(walk, macd, settings, progress=cancel_midway, cancel=cancel, chunk_size=500)


def test_equity_points_thinning(walk: Candles) -> None:
    result = run_backtest(walk, resolve_strategy("ma_crossover"), BacktestSettings(1000.0))
    points = result.equity_points(max_points=100)
    assert len(points) == 100
    assert points[0] == (int(walk.time_ms[0]), 1000.0)
    assert points[-1] == (int(walk.time_ms[-1]), result.final_equity)


def test_format_decimal() -> None:
    assert format_decimal(1234.5) == "1234.5"
    assert format_decimal(0.000000001) == "0"
    assert format_decimal(-2.0) == "-2"
    assert format_decimal(1 / 3, 4) == "0.3333"


def test_100k_candle_ma_crossover_replays_every_trade() -> None:
    # Speed is the bench's to measure (no timing assertions on a shared machine).
    speed = measure_backtest_speed(100_000, repeats=1)
    assert speed.candles == 100_000
    assert speed.trades > 0
