"""One tick's decision: a subscription's bot on one closed candle (runtime/batch.py runs
them, claimed and recorded exactly once).

1. The subscription as credential_svc answers it now: not tradable (paused, cancelled,
   unpaid, credential gone) is SKIPPED and trades nothing; so are a halted bot and a stale
   candle.
2. Risk before the strategy (runtime/risk.py): the drawdown kill switch, then stop-loss and
   take-profit on the candle's low and high. Either closes the position.
3. Otherwise the strategy's signal for this candle (analysis_svc's cached, single-flight
   Analyze, asked once per batch for every bot sharing it), then the entry blocks (daily
   loss, cooldown, exchange backoff) and sizing (quant/sizing.py, the backtests' code)
   within the free allocation.
4. At most one market order per tick, placed with the tick as its idempotency anchor
   (OrderService.place_for_bot): a tick run twice places one order.

Exchange trouble backs off per account (runtime/backoff.py); orders the exchange keeps
refusing (insufficient balance, rejected) halt the bot after MAX_FAILURES in a row. A halt
(that, or the drawdown kill switch) pauses the subscription in credential_svc with the rule
as its reason (PauseForRisk, runtime/batch.py), which its principal sees and lifts by
resuming; the runtime's own halt record keeps the bot still until then, even if that call
fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from botmesh.trading.v1 import resources_pb2 as pb

from exchanges.markets import filters_for
from mesh.db import utcnow
from mesh.decimals import dec_str
from mesh.errors import DomainError
from quant.periods import TIMEFRAME_MS
from quant.sizing import size_entry, truncate
from trading_svc.exchange.pool import ExchangePool
from trading_svc.orders.model import BUY, SELL
from trading_svc.orders.service import OrderService
from trading_svc.orders.store import OrderStore
from trading_svc.orders.subscriptions import ACTIVE, Subscription
from trading_svc.performance import ledger as books
from trading_svc.performance.ledger import LedgerState
from trading_svc.runtime import risk
from trading_svc.runtime.analysis import AnalysisClient, Signal
from trading_svc.runtime.backoff import AccountBackoff
from trading_svc.runtime.decisions import Decided
from trading_svc.runtime.metrics import RUNTIME
from trading_svc.runtime.queue import Tick
from trading_svc.runtime.state import MAX_FAILURES, RuntimeState

DEFAULT_FEE = Decimal("0.001")
# Order refusals that count toward halting the bot: the account or the order is wrong, and
# asking again will not help.
REFUSALS = frozenset(
    {
        "INSUFFICIENT_FUNDS",
        "ORDER_REFUSED_BY_EXCHANGE",
        "CREDENTIAL_REJECTED",
        "ALLOCATION_EXCEEDED",
        "POSITION_EXCEEDED",
        "ORDER_FILTER",
        "BELOW_MIN_NOTIONAL",
    }
)
PLACED, HELD, BLOCKED, CLOSED, SKIPPED, FAILED = (
    "ORDER_PLACED",
    "HELD",
    "BLOCKED",
    "CLOSED",
    "SKIPPED",
    "FAILED",
)


class Books(Protocol):
    """Fills as a ledger, and performance snapshots (trading_svc/performance)."""

    async def ledger(self, subscription_id: str) -> LedgerState: ...

    async def ledgers(self, subscription_ids: Iterable[str]) -> dict[str, LedgerState]: ...

    async def snapshot(
        self,
        subscription_id: str,
        allocation: Decimal,
        price: Decimal,
        at: datetime,
        state: LedgerState | None = None,
    ) -> pb.Performance: ...


@dataclass(frozen=True)
class Trading:
    """What a tick may call on: analysis, the order path, the exchange's filters, backoff."""

    analysis: AnalysisClient
    orders: OrderService
    store: OrderStore
    pool: ExchangePool
    backoff: AccountBackoff


Signals = dict[tuple[Any, ...], "asyncio.Future[Signal]"]


async def decide(
    tick: Tick,
    sub: Subscription | None,
    state: RuntimeState,
    ledger: LedgerState,
    trading: Trading,
    signals: Signals,
) -> tuple[Decided, RuntimeState]:
    """The tick's decision and the runtime state after it. `signals` shares one Analyze
    call among the ticks of a batch that ask the same question."""
    candle = tick.candle
    step = timedelta(milliseconds=TIMEFRAME_MS.get(tick.timeframe, 60_000))
    state = replace(state, last_tick_time=utcnow(), next_tick_time=candle.open_time + 2 * step)
    base = Decided(tick.subscription_id, candle.open_time, price=candle.close)
    if sub is None or sub.terms is None:
        return replace(base, outcome=SKIPPED, reason="SUBSCRIPTION_NOT_FOUND"), state
    if not sub.trading() or sub.credential_state != ACTIVE:
        reason = "CREDENTIAL_NOT_ACTIVE" if sub.trading() else "SUBSCRIPTION_NOT_ACTIVE"
        return replace(base, outcome=SKIPPED, reason=reason), state
    if tick.stale:
        return replace(base, outcome=SKIPPED, reason="STALE_CANDLE"), state
    if state.halted:
        return replace(base, outcome=SKIPPED, reason=state.halted_reason), state
    return await _Decision(trading, signals, tick, sub, state, ledger, base).make()


class _Decision:
    """The part of a tick that may trade: risk, signal, sizing, the order."""

    def __init__(
        self,
        trading: Trading,
        signals: Signals,
        tick: Tick,
        sub: Subscription,
        state: RuntimeState,
        ledger: LedgerState,
        base: Decided,
    ) -> None:
        self.r = trading
        self.signals = signals
        self.ledger = ledger
        self.tick = tick
        self.sub = sub
        self.state = state
        self.base = base
        assert sub.terms is not None
        self.terms = sub.terms

    async def make(self) -> tuple[Decided, RuntimeState]:
        candle, limits = self.tick.candle, self.terms.limits
        now = utcnow()
        account = self.ledger
        budget = self.terms.budget(self.sub.allocation)
        equity = books.equity(account, budget, candle.close)
        peak = max(self.state.peak_equity or equity, equity)
        self.state = replace(self.state, peak_equity=peak)
        book = risk.Book(
            position=account.position,
            entry_price=account.entry_price,
            equity=equity,
            peak_equity=peak,
            realized_today=books.realized_since(account, risk.day_start(now)),
            last_loss_exit=books.last_loss_exit(account),
        )
        verdict = risk.kill_switch(limits, book)
        if verdict is not None:
            self.state = self.state.halt(verdict.rule, verdict.message)
            return await self._close(verdict), self.state
        verdict = risk.exit_on(limits, book, candle)
        if verdict is not None:
            return await self._close(verdict), self.state
        try:
            signal = await self._signal()
        except DomainError as exc:
            return replace(self.base, outcome=FAILED, reason=exc.reason), self.state
        decided = replace(
            self.base,
            action=signal.action,
            confidence=signal.confidence,
            rationale=signal.rationale[:512],
            advisor=signal.advisor[:64],
        )
        if signal.action == BUY.upper():
            if book.position > 0:
                return replace(decided, outcome=HELD, reason="ALREADY_IN_POSITION"), self.state
            backoff = await self.r.backoff.until(self.sub.credential_id)
            block = risk.entry_block(limits, book, now, backoff)
            if block is not None:
                return _with_risk(decided, block, BLOCKED), self.state
            return await self._enter(decided, budget), self.state
        if signal.action == SELL.upper():
            if book.position <= 0:
                return replace(decided, outcome=HELD, reason="NO_POSITION"), self.state
            return await self._sell(decided, "STRATEGY_EXIT"), self.state
        return replace(decided, outcome=HELD, reason="HOLD"), self.state

    async def _signal(self) -> Signal:
        """Analyze for this candle, once per batch for every bot asking the same."""
        terms, tick = self.terms, self.tick
        key = (
            tick.exchange,
            tick.market,
            terms.timeframe,
            terms.strategy,
            tuple(sorted(terms.params.items())),
            terms.advisor,
            tick.candle.open_time,
        )
        asked = self.signals.get(key)
        if asked is None:
            asked = asyncio.ensure_future(
                self.r.analysis.decide(terms, tick.exchange, tick.market, tick.candle.open_time)
            )
            self.signals[key] = asked
        return await asyncio.shield(asked)

    async def _filters(self) -> Any:
        public = await self.r.pool.public(self.sub.exchange)
        return filters_for(public, self.sub.market)

    async def _enter(self, decided: Decided, budget: Decimal) -> Decided:
        try:
            filters = await self._filters()
        except DomainError as exc:
            return replace(decided, outcome=FAILED, reason=exc.reason)
        exposure = await self.r.store.exposure(self.sub.subscription_id, self.tick.candle.close)
        free = max(budget - exposure.committed, Decimal(0))
        fee = filters.taker_fee if filters.taker_fee is not None else DEFAULT_FEE
        entry = size_entry(self.terms.stake, free, self.tick.candle.close, filters.amount_step, fee)
        if entry is None:
            cap = risk.Verdict(
                risk.ALLOCATION_CAP,
                risk.BLOCKED,
                f"no entry fits the free allocation {dec_str(free.quantize(Decimal('0.01')))}",
            )
            return _with_risk(decided, cap, BLOCKED)
        return await self._order(decided, BUY, entry.amount)

    async def _sell(self, decided: Decided, reason: str) -> Decided:
        try:
            filters = await self._filters()
        except DomainError as exc:
            return replace(decided, outcome=FAILED, reason=exc.reason)
        exposure = await self.r.store.exposure(self.sub.subscription_id, self.tick.candle.close)
        amount = truncate(exposure.position - exposure.open_sell_quantity, filters.amount_step)
        if amount <= 0:
            return replace(decided, outcome=HELD, reason="NOTHING_TO_SELL")
        placed = await self._order(decided, SELL, amount)
        return placed if placed.outcome != PLACED else replace(placed, reason=reason)

    async def _close(self, verdict: risk.Verdict) -> Decided:
        decided = _with_risk(self.base, verdict, CLOSED)
        if self.ledger.position <= 0:
            return replace(decided, outcome=BLOCKED if verdict.outcome == risk.PAUSED else HELD)
        sold = await self._sell(decided, verdict.rule)
        return sold if sold.outcome != PLACED else replace(sold, outcome=CLOSED)

    async def _order(self, decided: Decided, side: str, amount: Decimal) -> Decided:
        tick_key = (
            f"{self.sub.subscription_id}:{int(self.tick.candle.open_time.timestamp() * 1000)}"
        )
        try:
            order = await self.r.orders.place_for_bot(self.sub, side, amount, tick_key)
        except DomainError as exc:
            return await self._failed(decided, exc)
        RUNTIME.bot_order(side, order.state)
        self.state = replace(self.state, failures=0)
        await self.r.backoff.clear(self.sub.credential_id)
        return replace(decided, outcome=PLACED, order_id=order.order_id, side=side, quantity=amount)

    async def _failed(self, decided: Decided, exc: DomainError) -> Decided:
        failed = replace(decided, outcome=FAILED, reason=exc.reason)
        if exc.reason in REFUSALS:
            failures = self.state.failures + 1
            self.state = replace(self.state, failures=failures)
            if failures >= MAX_FAILURES:
                halt = risk.Verdict(
                    risk.ORDER_FAILURES,
                    risk.PAUSED,
                    f"{failures} orders in a row were refused (last: {exc.reason}); paused "
                    "until the subscription is paused and resumed",
                )
                self.state = self.state.halt(halt.rule, halt.message)
                return _with_risk(failed, halt, FAILED)
        else:
            await self.r.backoff.failed(self.sub.credential_id)
        return failed


def _with_risk(decided: Decided, verdict: risk.Verdict, outcome: str) -> Decided:
    return replace(
        decided,
        outcome=outcome,
        reason=verdict.rule,
        risk_rule=verdict.rule,
        risk_outcome=verdict.outcome,
        risk_message=verdict.message[:255],
    )
