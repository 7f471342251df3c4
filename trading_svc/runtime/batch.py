"""A batch of ticks, decided exactly once each, at a few statements per batch.

A consumer hands over the ticks it read (runtime/consumer.py) with their subscriptions as
credential_svc answered them in one read. Then:

1. One claim statement for the batch (`DecisionStore.claim_many`): each (subscription,
   candle) is now this consumer's, was decided already (acknowledged, nothing done), or is
   another live consumer's (left pending: that consumer may yet die). runtime/decisions.py
   states the protocol.
2. One read of the runtime states and one of the fills (the ledgers) of the batch.
3. Each tick decided (runtime/tick.py), subscriptions concurrently within the bound, one
   subscription's ticks in candle order; bots asking Analyze the same question share one
   call.
4. One write of the decisions and one of the states (only the columns each tick changed,
   so a resume that lifted a halt meanwhile stands). A decision another consumer took over
   meanwhile is not written (its record stands).
5. Events: the decision, a risk action, a status change when a halt began (after the
   subscription was paused for it), and a performance snapshot when anything moved or a
   position is held (its time written with the states in step 4, not apart).

A tick that fails on our side (database, credential_svc) leaves the whole batch pending; its
retry is safe for the same reason a rerun of one tick is: decisions are claimed, orders are
keyed by their tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace

from mesh.db import utcnow
from mesh.errors import DomainError
from trading_svc.events.log import EventLog
from trading_svc.orders.subscriptions import Subscription, SubscriptionReader
from trading_svc.performance.ledger import LedgerState
from trading_svc.runtime.decisions import FINISHED, MINE, Decided, DecisionStore, Key
from trading_svc.runtime.events import decision_pb, risk_pb, status_pb
from trading_svc.runtime.metrics import RUNTIME, entry_lag_s
from trading_svc.runtime.queue import Tick
from trading_svc.runtime.state import RuntimeState, RuntimeStore
from trading_svc.runtime.tick import Books, Signals, Trading, decide

log = logging.getLogger("botmesh.trading.runtime")


@dataclass(frozen=True)
class Outcome:
    tick: Tick
    sub: Subscription | None
    decided: Decided
    before: RuntimeState
    after: RuntimeState
    ledger: LedgerState
    # Whether to snapshot performance: something moved, or a position is held (its value
    # moved with the close). Its time is in `after`, written with the batch's states.
    snapshot: bool = False


@dataclass(frozen=True)
class BatchResult:
    acknowledge: list[Tick]  # decided now, or decided before
    decided: int  # decided by this consumer now


class TickRunner:
    def __init__(
        self,
        decisions: DecisionStore,
        runtime: RuntimeStore,
        trading: Trading,
        books: Books,
        events: EventLog,
        subs: SubscriptionReader,
        consumer: str,
        concurrency: int,
    ) -> None:
        self._decisions = decisions
        self._runtime = runtime
        self._trading = trading
        self._books = books
        self._events = events
        self._subs = subs
        self.consumer = consumer
        self._concurrency = concurrency

    async def run(self, ticks: list[Tick], subs: Mapping[str, Subscription]) -> BatchResult:
        keys = {_key(t): t for t in ticks}
        claims = await self._decisions.claim_many(list(keys), self.consumer)
        finished = [t for k, t in keys.items() if claims.get(k) == FINISHED]
        mine = [t for k, t in keys.items() if claims.get(k) == MINE]
        if not mine:
            return BatchResult(finished, 0)
        sids = sorted({t.subscription_id for t in mine})
        states = await self._runtime.get_many(sids)
        ledgers = await self._books.ledgers(sids)
        outcomes = [_snapshot_due(o) for o in await self._decide_all(mine, subs, states, ledgers)]
        written = await self._decisions.complete_many([o.decided for o in outcomes], self.consumer)
        kept = [o for o in outcomes if _key(o.tick) in written]
        for o in kept:
            d = o.decided
            RUNTIME.decided(d.outcome, d.risk_rule, d.risk_outcome, entry_lag_s(o.tick.entry_id))
        # One write per subscription: from what was read to what its last tick left.
        first: dict[str, RuntimeState] = {}
        last: dict[str, RuntimeState] = {}
        for o in kept:
            first.setdefault(o.tick.subscription_id, o.before)
            last[o.tick.subscription_id] = o.after
        await self._runtime.put_many([(last[sid], first[sid]) for sid in last])
        slots = asyncio.Semaphore(self._concurrency)

        async def announce(outcome: Outcome) -> None:
            async with slots:
                await self._announce(outcome)

        await asyncio.gather(*(announce(o) for o in kept))
        return BatchResult(finished + [o.tick for o in outcomes], len(kept))

    async def _decide_all(
        self,
        mine: list[Tick],
        subs: Mapping[str, Subscription],
        states: Mapping[str, RuntimeState],
        ledgers: Mapping[str, LedgerState],
    ) -> list[Outcome]:
        by_sub: dict[str, list[Tick]] = defaultdict(list)
        for tick in sorted(mine, key=lambda t: t.candle.open_time):
            by_sub[tick.subscription_id].append(tick)
        signals: Signals = {}
        slots = asyncio.Semaphore(self._concurrency)

        async def one_subscription(sid: str, ticks: list[Tick]) -> list[Outcome]:
            done: list[Outcome] = []
            state = states.get(sid) or RuntimeState(sid)
            ledger = ledgers.get(sid) or LedgerState()
            async with slots:
                for tick in ticks:
                    if done and done[-1].decided.order_id:  # this batch moved its fills
                        ledger = await self._books.ledger(sid)
                    sub = subs.get(sid)
                    decided, after = await decide(tick, sub, state, ledger, self._trading, signals)
                    done.append(Outcome(tick, sub, decided, state, after, ledger))
                    state = after
            return done

        results = await asyncio.gather(*(one_subscription(s, t) for s, t in by_sub.items()))
        return [o for group in results for o in group]

    async def _announce(self, o: Outcome) -> None:
        sid = o.tick.subscription_id
        await self._events.decided(sid, decision_pb(o.decided))
        if o.decided.risk_rule:
            await self._events.risk_acted(sid, risk_pb(o.decided))
        if o.after.halted and not o.before.halted and o.sub is not None:
            await self._pause(o.sub, o.after, o.decided)
        if not o.snapshot or o.sub is None or o.sub.terms is None:
            return
        try:
            perf = await self._books.snapshot(
                sid,
                o.sub.terms.budget(o.sub.allocation),
                o.tick.candle.close,
                utcnow(),
                None if o.decided.order_id else o.ledger,
            )
        except Exception as exc:
            log.warning(
                "performance snapshot not written",
                extra={"fields": {"subscription_id": sid, "error": type(exc).__name__}},
            )
            return
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


def _snapshot_due(o: Outcome) -> Outcome:
    """Marks a tick that moved something (an order, a risk action, a first tick) or holds a
    position for a performance snapshot, its time set in the state the batch writes."""
    if o.sub is None or o.sub.terms is None:
        return o
    moved = o.decided.order_id or o.decided.risk_rule or o.after.last_snapshot_time is None
    if not (moved or o.ledger.position > 0):
        return o
    return replace(o, after=replace(o.after, last_snapshot_time=utcnow()), snapshot=True)


def _key(tick: Tick) -> Key:
    return (tick.subscription_id, tick.candle.open_time)
