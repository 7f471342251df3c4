"""The backtest engine sizes every entry with quant.sizing: stakes, the amount step, the fee
on top, skipped entries, and the wire parsing of stakes and steps."""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np
import pytest

from analysis_svc.domain.backtest import BacktestSettings, run_backtest
from analysis_svc.domain.stake import check_stake_fits, parse_amount_step, parse_stake
from analysis_svc.domain.strategies import BoundStrategy, resolve_strategy
from analysis_svc.domain.synthetic import candles_from_closes
from mesh.errors import InvalidArgument
from quant.sizing import Stake

# SMA(2) vs SMA(3): BUY filled at bar 7's open (11), SELL at bar 10's open (9).
CLOSES = [10.0, 10.0, 10.0, 9.0, 8.0, 9.0, 11.0, 12.0, 11.0, 9.0, 8.0, 8.0]


def ma_2_3() -> BoundStrategy:
    return resolve_strategy("ma_crossover", {"fast": "2", "slow": "3"})


def test_a_fixed_stake_truncated_to_the_step_leaves_the_rest_in_cash() -> None:
    candles = candles_from_closes(CLOSES)
    settings = BacktestSettings(
        1000.0, fee_rate=0.001, stake=Stake(fixed_quote=D("100")), amount_step=D("0.1")
    )
    result = run_backtest(candles, ma_2_3(), settings)

    (trade,) = result.trades
    # 100 / 11 = 9.09 -> 9.0 BTC for 99 USDT, 0.099 fee on top; sold at 9: 81 - 0.081.
    assert trade.quantity == 9.0
    assert trade.fee == pytest.approx(0.099 + 0.081)
    assert trade.pnl == pytest.approx(80.919 - 99.099)
    assert result.profit_quote == D("-18.18")
    cash = 1000 - 99.099
    expected = [1000.0] * 7 + [cash + 9 * 12, cash + 9 * 11, cash + 9 * 9, 981.82, 981.82]
    np.testing.assert_allclose(result.equity, expected)
    assert result.metrics.total_return == pytest.approx(-18.18 / 1000)


def test_a_fraction_stakes_a_share_of_the_balance_each_trade_left() -> None:
    candles = candles_from_closes([*CLOSES, 9.0, 10.0, 12.0, 13.0])
    settings = BacktestSettings(1000.0, fee_rate=0.0, stake=Stake(fraction=D("0.5")))
    first, second = run_backtest(candles, ma_2_3(), settings).trades

    assert first.quantity == pytest.approx(500 / 11)
    after_first = 1000 - 500 + 500 / 11 * 9
    assert second.quantity == pytest.approx(after_first / 2 / second.entry_price)
    assert second.forced_exit and second.exit_price == 12.0  # the last bar's open


def test_an_entry_the_balance_cannot_pay_for_is_skipped() -> None:
    candles = candles_from_closes(CLOSES)
    settings = BacktestSettings(50.0, fee_rate=0.001, stake=Stake(fixed_quote=D("100")))
    result = run_backtest(candles, ma_2_3(), settings)

    assert result.trades == () and (result.equity == 50.0).all()
    assert result.profit_quote == 0


def test_an_amount_truncated_to_nothing_is_skipped() -> None:
    candles = candles_from_closes(CLOSES)
    settings = BacktestSettings(1000.0, stake=Stake(fixed_quote=D("100")), amount_step=D("100"))
    assert run_backtest(candles, ma_2_3(), settings).trades == ()


def test_the_default_stakes_the_whole_balance_fee_included() -> None:
    candles = candles_from_closes(CLOSES)
    result = run_backtest(candles, ma_2_3(), BacktestSettings(1000.0, fee_rate=0.001))

    (trade,) = result.trades
    assert trade.quantity * 11 * 1.001 == pytest.approx(1000.0)
    assert float(result.profit_quote) == pytest.approx(result.final_equity - 1000.0)


def test_stakes_and_steps_from_the_wire() -> None:
    assert parse_stake("", "") == Stake()
    assert parse_stake("100", "") == Stake(fixed_quote=D("100"))
    assert parse_stake("", "0.25") == Stake(fraction=D("0.25"))
    assert parse_amount_step("") is None
    assert parse_amount_step("0.00001") == D("0.00001")


@pytest.mark.parametrize(
    ("fixed", "fraction", "field"),
    [
        ("100", "0.5", "stake.fixed_quote"),
        ("0", "", "stake.fixed_quote"),
        ("abc", "", "stake.fixed_quote"),
        ("", "1.01", "stake.allocation_fraction"),
        ("", "-0.1", "stake.allocation_fraction"),
        ("", "NaN", "stake.allocation_fraction"),
    ],
)
def test_bad_stakes_name_their_field(fixed: str, fraction: str, field: str) -> None:
    with pytest.raises(InvalidArgument) as bad:
        parse_stake(fixed, fraction)
    assert (bad.value.metadata["field"], bad.value.reason) == (field, "INVALID_BACKTEST_PARAMETER")


def test_a_fixed_stake_must_fit_the_initial_balance_with_its_fee() -> None:
    check_stake_fits(Stake(fixed_quote=D("99.9")), 100.0, 0.001)
    check_stake_fits(Stake(), 1.0, 0.001)
    with pytest.raises(InvalidArgument) as bad:
        check_stake_fits(Stake(fixed_quote=D("100")), 100.0, 0.001)
    assert bad.value.metadata["field"] == "stake.fixed_quote"
    with pytest.raises(InvalidArgument):
        parse_amount_step("0")
