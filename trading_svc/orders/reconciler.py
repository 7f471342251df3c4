"""Reconciliation: at start-up and periodically, compare our non-terminal orders and recent
fills with the exchange and repair our side.

- Unsettled orders (PENDING_SUBMIT or SUBMITTING left by a crash, UNKNOWN after a lost
  answer) and live ones are resolved through the executor, by client order id. A pass
  takes a bounded batch: only orders of subscriptions that may trade now (others have no
  credential to resolve them with), unsettled before live, least recently touched first,
  so paused or expired subscriptions' orders can never starve an active one's. "May trade"
  is filtered on trading_svc's own projection (orders/projection.py), then asked of
  the credential service for each subscription before acting; an answer saying it may not trade is
  written to the projection, so a missed stream entry costs one pass, not every pass.
- Recent fills of each recently active subscription are compared with the trades table; a
  fill we lack sends its order back through resolution, which stores it.
- Orders a request could not settle come here through `follow_up` and are retried with
  backoff, well before the next periodic pass.
- Recent orders whose `order.place` audit row is missing (written beside the send; a crash
  or a database error can leave it out) get it appended, first thing in every pass.

Every repair is logged (`order reconciled`) and, through the executor, published as an event.
Replicas may reconcile the same orders concurrently: sends are compare-and-set and fills are
unique, so the worst case is a duplicate query.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from exchanges.symbols import to_symbol
from mesh.db import utcnow
from trading_svc.exchange.pool import ExchangePool
from trading_svc.orders.audit import OrderAudit
from trading_svc.orders.execution import Executor
from trading_svc.orders.model import LIVE, UNSETTLED, Order
from trading_svc.orders.projection import ProjectionStore, may_be_trading
from trading_svc.orders.store import OrderStore
from trading_svc.orders.subscriptions import SubscriptionReader
from trading_svc.tables import orders

log = logging.getLogger("botmesh.trading.reconcile")
BATCH = 500
CONCURRENCY = 8
URGENT_TICK_S = 0.5
MAX_BACKOFF_S = 5.0
RECENT = timedelta(hours=1)


class Reconciler:
    def __init__(
        self,
        engine: AsyncEngine,
        store: OrderStore,
        subs: SubscriptionReader,
        pool: ExchangePool,
        executor: Executor,
        interval_s: float,
        *,
        batch: int = BATCH,
        audit: OrderAudit | None = None,
    ) -> None:
        self._audit = audit
        self._engine = engine
        self._store = store
        self._subs = subs
        self._projection = ProjectionStore(engine)
        self._pool = pool
        self._executor = executor
        self._interval_s = interval_s
        self._batch = batch
        # order id -> (next attempt, current backoff)
        self._urgent: dict[str, tuple[float, float]] = {}
        self._gate = asyncio.Semaphore(CONCURRENCY)

    def follow_up(self, order: Order) -> None:
        """Asks for an order to be retried soon (unsettled, or fills missing)."""
        self._urgent.setdefault(order.order_id, (time.monotonic() + URGENT_TICK_S, URGENT_TICK_S))

    @property
    def pending(self) -> int:
        return len(self._urgent)

    async def run(self) -> None:
        next_full = 0.0
        while True:
            try:
                if time.monotonic() >= next_full:
                    await self.full_pass()
                    next_full = time.monotonic() + self._interval_s
                await self.urgent_pass()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("reconciliation pass failed", exc_info=True)
            await asyncio.sleep(URGENT_TICK_S)

    async def full_pass(self) -> None:
        if self._audit is not None:  # audit rows a crash or a database error left out
            repaired = await self._audit.repair(utcnow() - RECENT)
            if repaired:
                log.warning("order audit rows appended", extra={"fields": {"orders": repaired}})
        found = await self._store.needing_attention(
            UNSETTLED | LIVE, self._batch, eligible=may_be_trading(utcnow())
        )
        results = await asyncio.gather(*(self._reconcile(order) for order in found))
        # An order this pass could not settle yet (e.g. left SUBMITTING by a crash, not yet
        # provably lost) is retried with backoff, not left for the next full pass.
        for after in results:
            if after is not None and after.state in UNSETTLED:
                self.follow_up(after)
        await self._compare_recent_fills()

    async def urgent_pass(self) -> None:
        now = time.monotonic()
        due = [oid for oid, (when, _) in self._urgent.items() if when <= now]
        await asyncio.gather(*(self._retry(oid) for oid in due))

    async def _retry(self, order_id: str) -> None:
        """Retries an order until it settles; the executor puts it back while its fills are
        incomplete."""
        _, backoff = self._urgent.pop(order_id, (0.0, URGENT_TICK_S))
        after = await self._reconcile(await self._store.load(order_id))
        if after is None or (after.state not in UNSETTLED and order_id not in self._urgent):
            return
        backoff = min(backoff * 2, MAX_BACKOFF_S)
        self._urgent[order_id] = (time.monotonic() + backoff, backoff)

    async def _reconcile(self, order: Order) -> Order | None:
        async with self._gate:
            sub = await self._subs.by_id(order.subscription_id)
            if sub is None or not sub.trading():
                if sub is not None:  # out of the next passes' batches
                    await self._projection.apply(sub.projected())
                return None  # no credential can be released for it; left as it is
            try:
                client = await self._pool.trading(
                    sub.subscription_id, sub.credential_id, sub.exchange
                )
            except Exception as exc:
                log.info(
                    "no exchange client for reconciliation",
                    extra={"fields": {"order_id": order.order_id, "error": type(exc).__name__}},
                )
                return None
            after = await self._executor.resolve(client, order)
        if after.state not in UNSETTLED and (
            after.state != order.state or after.filled_quantity != order.filled_quantity
        ):
            log.info(
                "order reconciled",
                extra={
                    "fields": {
                        "order_id": order.order_id,
                        "from": order.state,
                        "to": after.state,
                        "filled": str(after.filled_quantity),
                    }
                },
            )
        return after

    async def _compare_recent_fills(self) -> None:
        since = utcnow() - RECENT
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(orders.c.subscription_id)
                .where(orders.c.update_time >= since, orders.c.exchange_order_id.is_not(None))
                .distinct()
            )
            recent = [r[0] for r in rows]
        for subscription_id in recent:
            try:
                await self._compare_subscription(subscription_id, since)
            except Exception as exc:
                log.info(
                    "recent fills not compared",
                    extra={
                        "fields": {"subscription_id": subscription_id, "error": type(exc).__name__}
                    },
                )

    async def _compare_subscription(self, subscription_id: str, since: object) -> None:
        sub = await self._subs.by_id(subscription_id)
        if sub is None or not sub.trading():
            return
        client = await self._pool.trading(sub.subscription_id, sub.credential_id, sub.exchange)
        since_ms = int((utcnow() - RECENT).timestamp() * 1000)
        reported = await client.fetch_my_trades(to_symbol(sub.market), since_ms)
        ids = {str(t["id"]): str(t.get("order")) for t in reported if t.get("id") is not None}
        known = await self._store.known_trade_ids(sub.credential_id, sub.market, ids)
        missing_orders = {ids[t] for t in ids if t not in known}
        ours = await self._store.by_exchange_ids(sub.credential_id, missing_orders)
        for order in ours:
            log.warning("fill missing; repairing", extra={"fields": {"order_id": order.order_id}})
            await self._reconcile(order)
