"""One tick: a subscription's bot deciding on one closed candle, exactly once.

1. Claim the (subscription, candle) decision record (runtime/decisions.py); a tick already
   done, or in another live consumer's hands, ends here.
2. The subscription as credential_svc answers it now (passed in, read in one batch per
   read of ticks): not tradable (paused, cancelled, unpaid, credential gone) records a
   SKIPPED decision and trades nothing; so does a halted bot and a stale candle.
3. Risk before the strategy (runtime/risk.py): the drawdown kill switch, then stop-loss and
   take-profit on the candle's low and high. Either closes the position.
4. Otherwise the strategy's signal for this candle (analysis_svc's cached, single-flight
   Analyze), then the entry blocks (daily loss, cooldown, exchange backoff) and sizing
   (quant/sizing.py, the backtests' code) within the free allocation.
5. At most one market order per tick, placed with the tick as its idempotency anchor
   (OrderService.place_for_bot): a tick run twice places one order.
6. The decision is recorded, the runtime state saved, the performance snapshot written when
   anything moved, and events published (decision, risk action, status, performance).

Exchange trouble backs off per account (runtime/backoff.py); orders the exchange keeps
refusing (insufficient balance, rejected) halt the bot after MAX_FAILURES in a row. A halt
(that, or the drawdown kill switch) pauses the subscription in credential_svc with the rule
as its reason (PauseForRisk), which its principal sees and lifts by resuming; the runtime's
own halt record keeps the bot still until then, even if that call fails.
"""

from __future__ import annotations

import logging
from dataclasses import replace
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
from trading_svc.events.log import EventLog
from trading_svc.exchange.pool import ExchangePool
from trading_svc.orders.model import BUY, SELL
from trading_svc.orders.service import OrderService
from trading_svc.orders.store import OrderStore
from trading_svc.orders.subscriptions import ACTIVE, Subscription, SubscriptionReader
from trading_svc.performance import ledger as books
from trading_svc.runtime import risk
from trading_svc.runtime.analysis import AnalysisClient
from trading_svc.runtime.backoff import AccountBackoff
from trading_svc.runtime.decisions import BUSY, MINE, Decided, DecisionStore
from trading_svc.runtime.events import decision_pb, risk_pb, status_pb
from trading_svc.runtime.queue import Tick
from trading_svc.runtime.state import MAX_FAILURES, RuntimeState, RuntimeStore

log = logging.getLogger("botmesh.trading.runtime")
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


class TickBusy(Exception):
    """Another live consumer holds the tick's claim."""


class Books(Protocol):
    """Fills as a ledger, and performance snapshots (trading_svc/performance)."""

    async def ledger(self, subscription_id: str) -> Any: ...

    async def snapshot(
        self, subscription_id: str, allocation: Decimal, price: Decimal, at: datetime
    ) -> pb.Performance: ...


class TickRunner:
    def __init__(
        self,
        decisions: DecisionStore,
        runtime: RuntimeStore,
        analysis: AnalysisClient,
        orders: OrderService,
        store: OrderStore,
        pool: ExchangePool,
        books: Books,
        events: EventLog,
        backoff: AccountBackoff,
        subs: SubscriptionReader,
        consumer: str,
    ) -> None:
        self._subs = subs
        self._decisions = decisions
        self._runtime = runtime
        self._analysis = analysis
        self._orders = orders
        self._store = store
        self._pool = pool
        self._books = books
        self._events = events
        self._backoff = backoff
        self.consumer = consumer

    async def run(self, tick: Tick, sub: Subscription | None) -> Decided | None:
        """Processes the tick once; None when it was already decided. Raises TickBusy when
        another consumer holds it within its lease: the tick must stay pending."""
        candle_time = tick.candle.open_time
        claim = await self._decisions.claim(tick.subscription_id, candle_time, self.consumer)
        if claim == BUSY:
            raise TickBusy(tick.subscription_id)
        if claim != MINE:
            return None
        before = await self._runtime.get(tick.subscription_id)
        decided, after = await self._decide(tick, sub, before)
        if not await self._decisions.complete(decided, self.consumer):
            return None  # another consumer took the tick over; its record stands
        await self._runtime.put(after, before)
        await self._announce(tick, sub, decided, before, after)
        return decided

    async def _decide(
        self, tick: Tick, sub: Subscription | None, state: RuntimeState
    ) -> tuple[Decided, RuntimeState]:
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
        return await _Decision(self, tick, sub, state, base).make()

    async def _announce(
        self,
        tick: Tick,
        sub: Subscription | None,
        decided: Decided,
        before: RuntimeState,
        after: RuntimeState,
    ) -> None:
        sid = tick.subscription_id
        await self._events.decided(sid, decision_pb(decided))
        if decided.risk_rule:
            await self._events.risk_acted(sid, risk_pb(decided))
        if after.halted and not before.halted and sub is not None:
            await self._pause(sub, after, decided)
        moved = decided.order_id or decided.risk_rule or after.last_snapshot_time is None
        if sub is not None and sub.terms is not None and (moved or await self._holding(sid)):
            try:
                perf = await self._books.snapshot(
                    sid, sub.terms.budget(sub.allocation), tick.candle.close, utcnow()
                )
            except Exception as exc:
                log.warning(
                    "performance snapshot not written",
                    extra={"fields": {"subscription_id": sid, "error": type(exc).__name__}},
                )
                return
            await self._runtime.put(replace(after, last_snapshot_time=utcnow()), after)
            await self._events.performance(sid, perf)

    async def _pause(self, sub: Subscription, state: RuntimeState, decided: Decided) -> None:
        """A halt pauses the subscription in credential_svc, the reason on it for its
        principal to see; until that lands (or if it fails) the runtime's own halt keeps the
        bot from trading. The status event shows the subscription as it now stands."""
        try:
            await self._subs.pause_for_risk(
                sub.subscription_id, state.halted_reason, state.halted_message
            )
            sub = await self._subs.by_id(sub.subscription_id) or sub
        except DomainError as exc:
            log.warning(
                "risk pause not recorded by credential_svc; the bot stays halted",
                extra={"fields": {"subscription_id": sub.subscription_id, "reason": exc.reason}},
            )
        await self._events.status_changed(sub.subscription_id, status_pb(sub, state, decided))

    async def _holding(self, subscription_id: str) -> bool:
        exposure = await self._store.exposure(subscription_id, Decimal(0))
        return exposure.position > 0


class _Decision:
    """The part of a tick that may trade: risk, signal, sizing, the order."""

    def __init__(
        self, runner: TickRunner, tick: Tick, sub: Subscription, state: RuntimeState, base: Decided
    ) -> None:
        self.r = runner
        self.tick = tick
        self.sub = sub
        self.state = state
        self.base = base
        assert sub.terms is not None
        self.terms = sub.terms

    async def make(self) -> tuple[Decided, RuntimeState]:
        candle, limits = self.tick.candle, self.terms.limits
        now = utcnow()
        account = await self.r._books.ledger(self.sub.subscription_id)
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
            signal = await self.r._analysis.decide(
                self.terms, self.tick.exchange, self.tick.market, candle.open_time
            )
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
            backoff = await self.r._backoff.until(self.sub.credential_id)
            block = risk.entry_block(limits, book, now, backoff)
            if block is not None:
                return _with_risk(decided, block, BLOCKED), self.state
            return await self._enter(decided, budget), self.state
        if signal.action == SELL.upper():
            if book.position <= 0:
                return replace(decided, outcome=HELD, reason="NO_POSITION"), self.state
            return await self._sell(decided, "STRATEGY_EXIT"), self.state
        return replace(decided, outcome=HELD, reason="HOLD"), self.state

    async def _filters(self) -> Any:
        public = await self.r._pool.public(self.sub.exchange)
        return filters_for(public, self.sub.market)

    async def _enter(self, decided: Decided, budget: Decimal) -> Decided:
        try:
            filters = await self._filters()
        except DomainError as exc:
            return replace(decided, outcome=FAILED, reason=exc.reason)
        exposure = await self.r._store.exposure(self.sub.subscription_id, self.tick.candle.close)
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
        exposure = await self.r._store.exposure(self.sub.subscription_id, self.tick.candle.close)
        amount = truncate(exposure.position - exposure.open_sell_quantity, filters.amount_step)
        if amount <= 0:
            return replace(decided, outcome=HELD, reason="NOTHING_TO_SELL")
        placed = await self._order(decided, SELL, amount)
        return placed if placed.outcome != PLACED else replace(placed, reason=reason)

    async def _close(self, verdict: risk.Verdict) -> Decided:
        decided = _with_risk(self.base, verdict, CLOSED)
        if (await self.r._store.exposure(self.sub.subscription_id, Decimal(0))).position <= 0:
            return replace(decided, outcome=BLOCKED if verdict.outcome == risk.PAUSED else HELD)
        sold = await self._sell(decided, verdict.rule)
        return sold if sold.outcome != PLACED else replace(sold, outcome=CLOSED)

    async def _order(self, decided: Decided, side: str, amount: Decimal) -> Decided:
        tick_key = (
            f"{self.sub.subscription_id}:{int(self.tick.candle.open_time.timestamp() * 1000)}"
        )
        try:
            order = await self.r._orders.place_for_bot(self.sub, side, amount, tick_key)
        except DomainError as exc:
            return await self._failed(decided, exc)
        self.state = replace(self.state, failures=0)
        await self.r._backoff.clear(self.sub.credential_id)
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
            await self.r._backoff.failed(self.sub.credential_id)
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
