"""Vectorised backtest of a strategy's signal series over candles.

Convention (long-only, one position at a time, no look-ahead):
- A signal is decided on bar i's close; it executes at bar i+1's open. A signal on the
  last bar does not execute.
- BUY opens a position if flat; SELL closes it if long; repeated signals in the same
  direction are no-ops.
- Every entry is sized by quant.sizing, the model live bots use: the settings' stake (a
  fixed quote amount, a fraction of the balance, or by default the whole balance, which
  compounds) over the entry price, truncated down to the amount step, with the fee charged
  on top of the cost; the exit fee comes off the proceeds. An entry the balance cannot pay
  for (or that truncates to nothing) is skipped: the bot stays flat until the next BUY.
- Fills pay slippage against us (buy at open * (1 + bps/1e4), sell at open * (1 - bps/1e4)).
- A position still open when the data ends is closed at the last bar's open (with
  slippage and fee), as freqtrade closes it, and flagged `forced_exit`, so the final
  equity is realised.
- The equity curve is marked to market at each bar's close (cash + position * close; exit
  costs not deducted while open); its last point is the realised final balance.
Sizing is a Python loop over trades (Decimal, as live), never over bars: the equity curve
is numpy over all bars.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

import numpy as np

from analysis_svc.domain.candles import Candles, FloatArray, IntArray
from analysis_svc.domain.decimal_text import parse_decimal
from analysis_svc.domain.errors import BacktestCancelled, NotEnoughCandles
from analysis_svc.domain.signal import SignalSeries
from analysis_svc.domain.strategies import BoundStrategy
from mesh.errors import FailedPrecondition, InvalidArgument
from quant import PerformanceMetrics, compute_metrics
from quant.sizing import Stake, exit_value, size_entry

MAX_FEE_RATE = 0.1  # 10 % per fill: anything above is a typo, not an exchange
MAX_SLIPPAGE_BPS = 1000.0
DEFAULT_FEE_RATE = 0.001
REASON = "INVALID_BACKTEST_PARAMETER"

ProgressCallback = Callable[[float], None]


class CancelFlag(Protocol):
    """threading.Event or asyncio.Event both fit; checked between chunks."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class BacktestSettings:
    initial_balance: float
    fee_rate: float = DEFAULT_FEE_RATE
    slippage_bps: float = 0.0
    periods_per_year: float | None = None  # None: inferred from candle spacing
    stake: Stake = field(default_factory=Stake)  # default: the whole balance, compounding
    amount_step: Decimal | None = None  # None: amounts are not truncated

    def __post_init__(self) -> None:
        if not (np.isfinite(self.initial_balance) and self.initial_balance > 0):
            raise InvalidArgument.for_field(
                "initial_balance", "initial_balance must be > 0", reason=REASON
            )
        if not (np.isfinite(self.fee_rate) and 0.0 <= self.fee_rate <= MAX_FEE_RATE):
            raise InvalidArgument.for_field(
                "fee_rate", f"fee_rate must be in [0, {MAX_FEE_RATE}]", reason=REASON
            )
        if not (np.isfinite(self.slippage_bps) and 0 <= self.slippage_bps <= MAX_SLIPPAGE_BPS):
            raise InvalidArgument.for_field(
                "slippage_bps", f"slippage_bps must be in [0, {MAX_SLIPPAGE_BPS:g}]", reason=REASON
            )

    @classmethod
    def from_wire(
        cls,
        initial_balance: str,
        fee_rate: str = "",
        slippage_bps: int = 0,
        periods_per_year: float | None = None,
        *,
        stake: Stake | None = None,
        amount_step: Decimal | None = None,
    ) -> BacktestSettings:
        """From CreateBacktestRequest's strings; an empty fee_rate means DEFAULT_FEE_RATE."""
        return cls(
            parse_decimal(initial_balance, "initial_balance", REASON),
            parse_decimal(fee_rate, "fee_rate", REASON) if fee_rate.strip() else DEFAULT_FEE_RATE,
            float(slippage_bps),
            periods_per_year,
            stake or Stake(),
            amount_step,
        )


@dataclass(frozen=True, slots=True)
class BacktestTrade:
    entry_time_ms: int  # open time of the entry bar (filled at its open)
    exit_time_ms: int  # open time of the exit bar (filled at its open); the last bar's if forced
    entry_price: float  # after slippage
    exit_price: float  # after slippage
    quantity: float
    pnl: float  # net of both fees
    fee: float  # entry + exit fees, in quote
    forced_exit: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class BacktestResult:
    trades: tuple[BacktestTrade, ...]
    time_ms: IntArray
    equity: FloatArray  # one point per candle, marked at its close
    metrics: PerformanceMetrics
    candle_count: int
    profit_quote: Decimal = Decimal(0)  # final balance - initial balance, exact

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1])

    def equity_points(self, max_points: int = 1000) -> list[tuple[int, float]]:
        """An evenly thinned equity curve (first and last points kept) for responses."""
        n = self.equity.shape[0]
        idx = np.unique(np.linspace(0, n - 1, min(n, max(2, max_points))).round().astype(int))
        return list(zip(self.time_ms[idx].tolist(), self.equity[idx].tolist(), strict=True))


def validate_time_range(start_ms: int, end_ms: int) -> None:
    if end_ms <= start_ms:
        raise InvalidArgument.for_field(
            "end_time", "end_time must be after start_time", reason="INVALID_TIME_RANGE"
        )


def run_backtest(
    candles: Candles,
    strategy: BoundStrategy,
    settings: BacktestSettings,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
    chunk_size: int = 65_536,
) -> BacktestResult:
    """Replays `strategy` over `candles`. CPU-bound and synchronous: run it in a thread.

    `progress(fraction)` is called from the running thread; `cancel.is_set()` is checked
    between stages and equity chunks and raises BacktestCancelled.
    """
    if len(candles) == 0:
        raise FailedPrecondition("no candles in the range", reason="EMPTY_BACKTEST_RANGE")
    if len(candles) < strategy.min_candles:
        raise NotEnoughCandles(strategy.min_candles, len(candles), f"strategy {strategy.name}")
    report = _Reporter(progress, cancel)
    report(0.0)

    held = held_positions(strategy.signal_series(candles))
    report(0.2)

    book = _trades(candles, held, settings)
    report(0.3)

    n = len(candles)
    equity = np.empty(n, dtype=np.float64)
    cash_after_completed = np.concatenate([[settings.initial_balance], book.cash_after])
    for start in range(0, n, chunk_size):
        stop = min(n, start + chunk_size)
        bars = np.arange(start, stop)
        trade_idx = np.searchsorted(book.entry_bar, bars, side="right") - 1
        completed = np.searchsorted(book.exit_bar, bars, side="right")
        if book.quantity.size == 0:  # never entered: flat all along
            equity[start:stop] = settings.initial_balance
        else:
            k = np.maximum(trade_idx, 0)
            in_trade = (trade_idx >= 0) & (bars < book.exit_bar[k])
            equity[start:stop] = np.where(
                in_trade,
                book.cash_held[k] + book.quantity[k] * candles.close[start:stop],
                cash_after_completed[completed],
            )
        report(0.3 + 0.6 * stop / n)

    metrics = compute_metrics(
        equity,
        book.pnl,
        periods_per_year=settings.periods_per_year,
        timestamps=candles.time_ms if settings.periods_per_year is None else None,
    )
    trades = book.as_trades(candles.time_ms)
    report(1.0)
    return BacktestResult(trades, candles.time_ms, equity, metrics, n, book.profit_quote)


def held_positions(signals: SignalSeries) -> SignalSeries:
    """Position (0/1) held during each bar: the last BUY/SELL up to the previous bar."""
    n = signals.shape[0]
    last_signal_at = np.where(signals != 0, np.arange(n), -1)
    np.maximum.accumulate(last_signal_at, out=last_signal_at)
    last_signal = np.where(last_signal_at >= 0, signals[np.maximum(last_signal_at, 0)], -1)
    held = np.zeros(n, dtype=np.int8)
    held[1:] = last_signal[:-1] > 0
    return held


@dataclass(frozen=True, slots=True, eq=False)
class _Book:
    """The trades taken, one entry per array index, oldest first."""

    entry_bar: IntArray
    exit_bar: IntArray  # n - 1 for a forced exit
    entry_price: FloatArray
    exit_price: FloatArray
    quantity: FloatArray
    fee: FloatArray
    pnl: FloatArray
    cash_held: FloatArray  # quote left beside the position while it is open
    cash_after: FloatArray
    forced_exit: bool
    profit_quote: Decimal

    def as_trades(self, time_ms: IntArray) -> tuple[BacktestTrade, ...]:
        count = self.entry_bar.shape[0]
        forced = [False] * count
        if self.forced_exit:
            forced[-1] = True
        columns = zip(
            time_ms[self.entry_bar].tolist(),
            time_ms[self.exit_bar].tolist(),
            self.entry_price.tolist(),
            self.exit_price.tolist(),
            self.quantity.tolist(),
            self.pnl.tolist(),
            self.fee.tolist(),
            forced,
            strict=True,
        )
        return tuple(BacktestTrade(*c) for c in columns)


def _decimal(value: float) -> Decimal:
    """A float price as the Decimal of its shortest repr (61576.59 stays 61576.59)."""
    return Decimal(repr(value))


def _trades(candles: Candles, held: SignalSeries, settings: BacktestSettings) -> _Book:
    """Sizes each position run of `held` with quant.sizing, in order (a loop over trades):
    each entry is sized from the balance the previous trades left, in Decimal. The float
    columns for reports and the equity curve are read off those amounts and balances."""
    change = np.diff(held.astype(np.int8))
    run_entry = np.flatnonzero(change > 0) + 1
    run_exit = np.flatnonzero(change < 0) + 1
    last = held.shape[0] - 1
    if held[-1] == 1:
        run_exit = np.append(run_exit, last)
    slip = Decimal(settings.slippage_bps) / Decimal(10_000)
    fee_rate = _decimal(settings.fee_rate)
    initial = balance = _decimal(settings.initial_balance)
    taken: list[int] = []  # index into the runs
    amounts: list[float] = []
    pnls: list[float] = []
    balances: list[float] = []
    entry_opens = candles.open[run_entry].tolist()
    exit_opens = candles.open[run_exit].tolist()
    for k, (entry_open, exit_open) in enumerate(zip(entry_opens, exit_opens, strict=True)):
        price = _decimal(entry_open) * (1 + slip)
        entry = size_entry(settings.stake, balance, price, settings.amount_step, fee_rate)
        if entry is None:
            continue  # the balance cannot pay for it: flat until the next BUY
        proceeds, _ = exit_value(entry.amount, _decimal(exit_open) * (1 - slip), fee_rate)
        pnl = proceeds - entry.total
        balance += pnl
        taken.append(k)
        amounts.append(float(entry.amount))
        pnls.append(float(pnl))
        balances.append(float(balance))

    index = np.asarray(taken, dtype=np.int64)
    entry_bar, exit_bar = run_entry[index], run_exit[index]
    entry_price = candles.open[entry_bar] * (1.0 + float(slip))
    exit_price = candles.open[exit_bar] * (1.0 - float(slip))
    quantity = np.asarray(amounts, dtype=np.float64)
    cash_after = np.asarray(balances, dtype=np.float64)
    cash_before = np.concatenate([[settings.initial_balance], cash_after[:-1]])
    entry_cost = quantity * entry_price
    return _Book(
        entry_bar=entry_bar,
        exit_bar=exit_bar,
        entry_price=entry_price,
        exit_price=exit_price,
        quantity=quantity,
        fee=(entry_cost + quantity * exit_price) * settings.fee_rate,
        pnl=np.asarray(pnls, dtype=np.float64),
        cash_held=cash_before - entry_cost * (1.0 + settings.fee_rate),
        cash_after=cash_after,
        forced_exit=bool(held[-1] == 1 and exit_bar.size and exit_bar[-1] == last),
        profit_quote=balance - initial,
    )


class _Reporter:
    def __init__(self, progress: ProgressCallback | None, cancel: CancelFlag | None) -> None:
        self._progress = progress
        self._cancel = cancel

    def __call__(self, fraction: float) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise BacktestCancelled()
        if self._progress is not None:
            self._progress(fraction)
