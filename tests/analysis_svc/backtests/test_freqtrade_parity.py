"""Freqtrade parity (issue 10): our backtest engine, sizing with quant.sizing, reproduces the
REAL freqtrade backtester's result on the same candles.

The fixtures in data/ were written by bench/freqtrade_parity/run.py: 2,400 seeded 1h BTC/USDT
candles, and the trades freqtrade (its version is in the file) made on them with the same
rule (SMA(20)/SMA(50) crossover), a fixed stake of 100 USDT, 0.1 % fee per side and the
0.00001 BTC amount step of the market it loaded (from exchange_sim). Same trade count, the
same entry and exit times, and profit to the cent, per trade and in total.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analysis_svc.domain.backtest import BacktestResult, BacktestSettings, run_backtest
from analysis_svc.domain.candles import Candles
from analysis_svc.domain.strategies import resolve_strategy
from quant.sizing import Stake

DATA = Path(__file__).parent / "data"
CENT = 0.005


@pytest.fixture(scope="module")
def freqtrade() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "freqtrade_parity_trades.json").read_text())
    return data


@pytest.fixture(scope="module")
def ours(freqtrade: dict[str, Any]) -> BacktestResult:
    rows = np.asarray(json.loads((DATA / "freqtrade_parity_candles.json").read_text()))
    candles = Candles(rows[:, 0].astype(np.int64), *(rows[:, i] for i in range(1, 6)))
    s = freqtrade["settings"]
    settings = BacktestSettings(
        float(s["initial_balance"]),
        fee_rate=float(s["fee_rate"]),
        periods_per_year=8760,
        stake=Stake(fixed_quote=Decimal(s["stake_quote"])),
        amount_step=Decimal(s["amount_step"]),
    )
    return run_backtest(candles, resolve_strategy(s["strategy"], s["params"]), settings)


def test_the_fixture_is_a_real_freqtrade_run_with_enough_trades(freqtrade: dict[str, Any]) -> None:
    assert freqtrade["freqtrade_version"] not in ("", "?")
    assert len(freqtrade["trades"]) >= 20
    assert freqtrade["settings"]["params"] == {"fast": "20", "slow": "50"}


def test_same_trade_count_and_times(ours: BacktestResult, freqtrade: dict[str, Any]) -> None:
    theirs = freqtrade["trades"]
    assert len(ours.trades) == len(theirs)
    assert [(t.entry_time_ms, t.exit_time_ms) for t in ours.trades] == [
        (t["open_timestamp"], t["close_timestamp"]) for t in theirs
    ]
    assert [t.forced_exit for t in ours.trades] == [
        t["exit_reason"] == "force_exit" for t in theirs
    ]


def test_same_amounts_and_prices(ours: BacktestResult, freqtrade: dict[str, Any]) -> None:
    for mine, theirs in zip(ours.trades, freqtrade["trades"], strict=True):
        assert mine.quantity == pytest.approx(theirs["amount"], abs=1e-12)
        assert mine.entry_price == pytest.approx(theirs["open_rate"], abs=1e-9)
        assert mine.exit_price == pytest.approx(theirs["close_rate"], abs=1e-9)


def test_profit_to_the_cent_per_trade_and_in_total(
    ours: BacktestResult, freqtrade: dict[str, Any]
) -> None:
    for mine, theirs in zip(ours.trades, freqtrade["trades"], strict=True):
        assert abs(mine.pnl - theirs["profit_abs"]) < CENT
    assert abs(float(ours.profit_quote) - freqtrade["profit_total_abs"]) < CENT
    assert ours.final_equity == pytest.approx(1000 + freqtrade["profit_total_abs"], abs=CENT)
