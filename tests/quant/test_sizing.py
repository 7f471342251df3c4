"""quant/sizing: the one sizing model of live bots and backtests (freqtrade's fixed stake)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from quant.sizing import Entry, Stake, exit_value, size_entry, truncate

FEE = D("0.001")
STEP = D("0.00001")


def test_a_fixed_stake_buys_stake_over_price_truncated_to_the_step_with_the_fee_on_top() -> None:
    entry = size_entry(Stake(fixed_quote=D("100")), D("1000"), D("61576.59"), STEP, FEE)

    # 100 / 61576.59 = 0.0016239941... -> 0.00162
    assert entry is not None
    assert entry.amount == D("0.00162")
    assert entry.cost == D("99.7540758")
    assert entry.fee == D("0.0997540758")
    assert entry.total == D("99.8538298758")


def test_a_fixed_stake_ignores_the_budget_it_fits_in() -> None:
    small = size_entry(Stake(fixed_quote=D("100")), D("200"), D("50"), None, FEE)
    large = size_entry(Stake(fixed_quote=D("100")), D("1000000"), D("50"), None, FEE)

    assert small == large == Entry(D("2"), D("100"), D("0.1"))


def test_a_fraction_stakes_that_share_of_the_budget() -> None:
    entry = size_entry(Stake(fraction=D("0.25")), D("1000"), D("10"), D("0.1"), FEE)

    assert entry == Entry(D("25"), D("250"), D("0.25"))


def test_the_whole_budget_pays_cost_and_fee_exactly_without_a_step() -> None:
    entry = size_entry(Stake(), D("1001"), D("10"), None, FEE)

    assert entry is not None
    assert entry.amount == D("100")
    assert entry.total == D("1001")


def test_the_whole_budget_never_overshoots_by_rounding() -> None:
    for budget in (D("10000"), D("9999.99999999"), D("1234.5678"), D("1")):
        entry = size_entry(Stake(), budget, D("61576.59"), None, D("0.00075"))
        assert entry is not None
        assert entry.total <= budget
        assert budget - entry.total < D("1e-20")


def test_the_whole_budget_with_a_step_leaves_the_truncated_remainder() -> None:
    entry = size_entry(Stake(), D("1000"), D("30"), D("1"), FEE)

    # 1000 / 1.001 / 30 = 33.30 -> 33
    assert entry == Entry(D("33"), D("990"), D("0.990"))


def test_a_stake_whose_cost_and_fee_exceed_the_budget_is_no_entry() -> None:
    # 100 buys exactly 100 of cost, and the fee on top breaks a budget of 100.
    assert size_entry(Stake(fixed_quote=D("100")), D("100"), D("10"), None, FEE) is None
    assert size_entry(Stake(fixed_quote=D("100")), D("50"), D("10"), None, FEE) is None


def test_an_amount_truncated_to_zero_is_no_entry() -> None:
    assert size_entry(Stake(fixed_quote=D("5")), D("1000"), D("61576.59"), D("0.0001"), FEE) is None


def test_nothing_to_spend_or_no_price_is_no_entry() -> None:
    assert size_entry(Stake(), D("0"), D("10"), None, FEE) is None
    assert size_entry(Stake(), D("100"), D("0"), None, FEE) is None


def test_truncate_goes_down_to_the_step_and_keeps_exact_multiples() -> None:
    assert truncate(D("0.0016239941"), STEP) == D("0.00162")
    assert truncate(D("0.00162"), STEP) == D("0.00162")
    assert truncate(D("7.99"), D("0.5")) == D("7.5")
    assert truncate(D("7.99"), None) == D("7.99")


def test_an_exit_pays_the_fee_out_of_the_proceeds() -> None:
    assert exit_value(D("0.00162"), D("62000"), FEE) == (D("100.33956"), D("0.10044"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fixed_quote": D("100"), "fraction": D("0.5")},
        {"fixed_quote": D("0")},
        {"fraction": D("0")},
        {"fraction": D("1.01")},
    ],
)
def test_a_stake_is_one_valid_mode_or_the_whole(kwargs: dict[str, D]) -> None:
    with pytest.raises(ValueError):
        Stake(**kwargs)
