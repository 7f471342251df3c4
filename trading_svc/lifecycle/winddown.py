"""Winding down stopped subscriptions: cancel their open orders on the exchange.

The credential service asks (WindDownSubscriptions) after a subscription was canceled, or while a
user is being erased, before the keys are shredded. For each subscription this process first
drops its pooled client of the credential, then, when the subscription has open orders,
releases the credential for winding down only (never pooled) and, for each open order:
looks it up by client order id if its submission is unsettled (never resending it), audits
the cancel, cancels it, and records the exchange's answer. An order the exchange no longer has (filled meanwhile) counts as closed.
Failures are counted, not raised, so one stubborn order does not block the rest; what stays
open stays LIVE in our records, and the caller's retry winds down again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from exchanges.errors import is_ambiguous, is_not_found
from exchanges.symbols import to_symbol
from mesh.errors import DomainError
from trading_svc.exchange import calls
from trading_svc.exchange.pool import ExchangePool
from trading_svc.orders import audit as audit_events
from trading_svc.orders.audit import OrderAudit
from trading_svc.orders.execution import Executor
from trading_svc.orders.model import LIVE, SUBMITTING, TERMINAL, UNKNOWN, Order
from trading_svc.orders.store import _order as order_of
from trading_svc.orders.subscriptions import SubscriptionReader
from trading_svc.tables import orders

log = logging.getLogger("botmesh.trading.lifecycle")
# Sent, or maybe sent: what can be open on the exchange. PENDING_SUBMIT was never sent.
OPEN_STATES = (*LIVE, SUBMITTING, UNKNOWN)


@dataclass
class Outcome:
    closed: int = 0
    failed: int = 0


class WindDown:
    def __init__(
        self,
        engine: AsyncEngine,
        subs: SubscriptionReader,
        pool: ExchangePool,
        executor: Executor,
        audit: OrderAudit,
    ) -> None:
        self._engine = engine
        self._subs = subs
        self._pool = pool
        self._executor = executor
        self._audit = audit

    async def run(self, subscription_ids: Sequence[str]) -> Outcome:
        outcome = Outcome()
        for subscription_id in dict.fromkeys(subscription_ids):
            sub = await self._subs.by_id(subscription_id)
            if sub is None:
                continue
            await self._pool.close_credential(sub.credential_id)
            open_orders = await self._open_orders(subscription_id)
            if not open_orders:
                continue
            try:
                async with self._pool.wind_down(subscription_id, sub.exchange) as client:
                    for order in open_orders:
                        if await self._close(client, order):
                            outcome.closed += 1
                        else:
                            outcome.failed += 1
            except DomainError as exc:  # no wind-down credential (shredded), or no exchange
                log.warning(
                    "subscription not wound down",
                    extra={"fields": {"subscription_id": subscription_id, "reason": exc.reason}},
                )
                outcome.failed += len(open_orders)
        return outcome

    async def _open_orders(self, subscription_id: str) -> list[Order]:
        query = sa.select(orders).where(
            orders.c.subscription_id == subscription_id, orders.c.state.in_(OPEN_STATES)
        )
        async with self._engine.connect() as conn:
            return [order_of(r) for r in await conn.execute(query)]

    async def _close(self, client: Any, order: Order) -> bool:
        """True when the order is no longer open on the exchange. An order whose submission
        is unsettled is only looked up, never sent again (Executor.resolve may resend one
        proven lost; a stopped subscription must place nothing)."""
        symbol = to_symbol(order.market)
        exchange_order_id = order.exchange_order_id
        if order.state not in LIVE:
            try:
                raw = await calls.by_client_id(client, symbol, order)
            except Exception:  # not on the exchange (yet), or no answer: nothing to cancel
                return False
            exchange_order_id = str(raw.get("id") or "")
            if raw.get("status") != "open":
                await self._executor.resolve(client, order)  # found: recorded, not resent
                return True
        if not exchange_order_id:
            return False
        await self._audit.placed(order)  # first on the chain, if its own task has not yet
        await self._audit.record(audit_events.cancel_requested(order, audit_events.BY_WIND_DOWN))
        try:
            await calls.cancel(client, symbol, exchange_order_id)
        except Exception as exc:
            if not (is_not_found(exc) or is_ambiguous(exc)):
                log.warning(
                    "open order not canceled",
                    extra={"fields": {"order_id": order.order_id, "error": type(exc).__name__}},
                )
                return False
        order = await self._executor.resolve(client, order)
        return order.state in TERMINAL
