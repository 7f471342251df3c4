"""The one sizing model: how much a bot buys per entry, live and in backtests.

Pure Decimal arithmetic, no I/O. trading_svc's bot runtime sizes a live order with these
functions and analysis_svc's backtest engine sizes every simulated trade with them, so a
backtest and a live bot given the same budget, price, step and fee commit the same amount.

The rules (freqtrade's, for a fixed stake; fees as spot exchanges charge them):
- The stake is the quote currency one entry may spend before fees:
  - fixed: `Stake(fixed_quote=q)` stakes q, whatever the budget (but see the budget rule);
  - fraction: `Stake(fraction=f)`, f in (0, 1], stakes f * budget;
  - whole: `Stake()` stakes the whole budget less the entry fee, stake = budget / (1 + fee),
    so that cost + fee never exceeds the budget (a backtest compounds this way).
- The amount is stake / price truncated DOWN to the market's amount step (never rounded up,
  so the order never spends more than its stake). No step: the exact quotient.
- The cost is amount * price; the entry fee is cost * fee_rate, charged ON TOP of the cost
  (the quote balance pays cost + fee).
- No entry (None) when the truncated amount is 0, or when cost + fee exceeds the budget
  (a fixed stake larger than what the bot may still commit is refused, not shrunk).
- On exit the fee is charged on the proceeds: proceeds = amount * price - fee, with
  fee = amount * price * fee_rate.

`budget` is the quote currency the bot may still commit: live, its allocation less what it
has committed; in a backtest, the simulated quote balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, localcontext

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True)
class Stake:
    """botmesh.sizing.v1.Stake as a value: at most one of the two is set; neither means the
    whole budget."""

    fixed_quote: Decimal | None = None  # a fixed quote amount per entry
    fraction: Decimal | None = None  # a fraction (0, 1] of the budget

    def __post_init__(self) -> None:
        if self.fixed_quote is not None and self.fraction is not None:
            raise ValueError("a stake is fixed or a fraction, not both")
        if self.fixed_quote is not None and not self.fixed_quote > ZERO:
            raise ValueError("a fixed stake must be > 0")
        if self.fraction is not None and not ZERO < self.fraction <= ONE:
            raise ValueError("a stake fraction must be in (0, 1]")

    @property
    def is_whole(self) -> bool:
        return self.fixed_quote is None and self.fraction is None

    def quote_for(self, budget: Decimal, fee_rate: Decimal) -> Decimal:
        """The quote this stake spends before fees, given the budget (see the module rules)."""
        if self.fixed_quote is not None:
            return self.fixed_quote
        if self.fraction is not None:
            return budget * self.fraction
        return budget / (ONE + fee_rate)


@dataclass(frozen=True)
class Entry:
    """A sized entry: `amount` of base bought for `cost` quote, plus `fee` quote on top."""

    amount: Decimal
    cost: Decimal
    fee: Decimal

    @property
    def total(self) -> Decimal:
        """What the quote balance pays: cost + fee."""
        return self.cost + self.fee


def truncate(amount: Decimal, step: Decimal | None) -> Decimal:
    """`amount` down to a whole multiple of `step` (toward zero); unchanged without a step."""
    if step is None or step <= ZERO:
        return amount
    return (amount / step).to_integral_value(rounding=ROUND_DOWN) * step


def size_entry(
    stake: Stake,
    budget: Decimal,
    price: Decimal,
    amount_step: Decimal | None,
    fee_rate: Decimal,
) -> Entry | None:
    """The entry `stake` buys at `price` within `budget`; None when it buys nothing (the
    truncated amount is 0) or costs more than the budget with its fee."""
    if price <= ZERO or budget <= ZERO:
        return None
    # Every inexact step rounds down, so the whole budget's entry never overshoots it by a
    # rounding digit (28 significant digits: far below any currency's smallest unit).
    with localcontext() as ctx:
        ctx.rounding = ROUND_DOWN
        amount = truncate(stake.quote_for(budget, fee_rate) / price, amount_step)
        if amount <= ZERO:
            return None
        cost = amount * price
        fee = cost * fee_rate
        if cost + fee > budget:
            return None
    return Entry(amount, cost, fee)


def exit_value(amount: Decimal, price: Decimal, fee_rate: Decimal) -> tuple[Decimal, Decimal]:
    """(proceeds net of fee, fee) of selling `amount` at `price`: the fee comes off the
    proceeds."""
    gross = amount * price
    fee = gross * fee_rate
    return gross - fee, fee
