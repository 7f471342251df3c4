"""Order use cases: place (manual), cancel, list orders and fills.

Every use case starts from the acting principal's subscription (NOT_FOUND for anyone else's).
Checks that need no exchange order (market, filters, min notional, allocation) all run
before the order row exists, so a bad order never reaches the exchange.

A placement that names an intent (orders/model.py intent_key) places at most one order for
it: a retry finds the order the first request made, and is answered with that order as it
stands now, before any check (the allocation it consumed is no reason to refuse it).
Once the row exists, the submission is the Submitter's, shielded from the request.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from exchanges.errors import is_ambiguous, is_not_found, to_domain
from exchanges.markets import filters_for
from exchanges.symbols import to_symbol
from mesh.db import utcnow
from mesh.decimals import dec
from mesh.errors import DomainError, FailedPrecondition, InvalidArgument
from mesh.ids import new_id
from mesh.pagination import decode_token, next_page_token, page_size
from trading_svc.exchange import calls
from trading_svc.exchange.pool import ExchangePool
from trading_svc.marketdata.service import MarketData
from trading_svc.orders import allocation
from trading_svc.orders import audit as audit_events
from trading_svc.orders.audit import OrderAudit
from trading_svc.orders.execution import Executor
from trading_svc.orders.model import (
    BOT,
    BUY,
    LIMIT,
    LIVE,
    MANUAL,
    MARKET,
    PENDING_SUBMIT,
    TERMINAL,
    UNSETTLED,
    Order,
    Trade,
    client_order_id,
    intent_key,
)
from trading_svc.orders.store import OrderStore
from trading_svc.orders.submission import Submitter
from trading_svc.orders.subscriptions import Subscription, SubscriptionReader

log = logging.getLogger("botmesh.trading.orders")


class OrderService:
    def __init__(
        self,
        subscriptions: SubscriptionReader,
        store: OrderStore,
        pool: ExchangePool,
        executor: Executor,
        submitter: Submitter,
        prices: MarketData | None = None,
        audit: OrderAudit | None = None,
    ) -> None:
        self._audit = audit
        self._subs = subscriptions
        self._store = store
        self._pool = pool
        self._executor = executor
        self._submitter = submitter
        self._prices = prices

    async def place(
        self,
        principal: str | None,
        subscription_id: str,
        side: str,
        order_type: str,
        quantity: Decimal,
        price: Decimal | None,
        intent: str | None = None,
    ) -> Order:
        sub = await self._subs.for_principal(principal, subscription_id)
        if intent is not None:
            placed = await self._store.by_intent(sub.subscription_id, intent)
            if placed is not None:
                return await self._as_it_stands(sub, placed)
        sub.require_active()
        if order_type == LIMIT and price is None:
            raise InvalidArgument.for_field("price", "is required for a limit order")
        if order_type != LIMIT and price is not None:
            raise InvalidArgument.for_field("price", "must be empty for a market order")
        return await self._submit(sub, side, order_type, quantity, price, intent, MANUAL, None)

    async def place_for_bot(
        self, sub: Subscription, side: str, quantity: Decimal, tick_key: str
    ) -> Order:
        """A bot's market order for one tick, through the same checks and exactly-once path
        as a manual one. The tick is the order's idempotency anchor: a tick run again (a
        redelivery, a consumer that died mid-tick) finds the order its first run placed,
        as it stands, and places nothing new."""
        intent = intent_key(BOT, "", tick_key, sub.subscription_id)
        placed = await self._store.by_intent(sub.subscription_id, intent)
        if placed is not None:
            return await self._as_it_stands(sub, placed)
        sub.require_active()
        return await self._submit(sub, side, MARKET, quantity, None, intent, BOT, tick_key)

    async def _submit(
        self,
        sub: Subscription,
        side: str,
        order_type: str,
        quantity: Decimal,
        price: Decimal | None,
        intent: str | None,
        source: str,
        tick_key: str | None,
    ) -> Order:
        public = await self._pool.public(sub.exchange)
        filters = filters_for(public, sub.market)
        reference = price if price is not None else await self._reference(public, sub, side)
        filters.check(quantity, price, reference)
        client = await self._pool.trading(sub.subscription_id, sub.credential_id, sub.exchange)
        order = replace(
            self._new_order(sub, side, order_type, quantity, price, intent),
            source=source,
            tick_key=tick_key,
        )
        return await self._submitter.place(
            client,
            order,
            lambda: self._store.create(
                order,
                lambda exposure: allocation.check(
                    exposure, sub.allocation, side, order_type, quantity, reference
                ),
                reference,
                sub.projected(),
            ),
        )

    async def _as_it_stands(self, sub: Subscription, order: Order) -> Order:
        """An order already placed for this intent, resolved a little if unsettled. Its
        own submission may still be running; resolution never sends what is not proven
        lost, so asking here cannot make a second order."""
        if order.state not in UNSETTLED or not sub.trading():
            return order
        try:
            client = await self._pool.trading(sub.subscription_id, sub.credential_id, sub.exchange)
        except DomainError:
            return order
        return await self._submitter.current(client, order)

    async def _reference(self, public: Any, sub: Subscription, side: str) -> Decimal:
        """The price a market order is judged by: the ask for a buy, the bid for a sell,
        from the market data cache of the subscription's (exchange, market) (a burst of
        orders costs the exchange one ticker request)."""
        if self._prices is not None:
            cached = await self._prices.ticker(sub.market, sub.exchange)
            ticker: dict[str, Any] = {"ask": cached.ask, "bid": cached.bid, "last": cached.last}
        else:
            try:
                ticker = await public.fetch_ticker(to_symbol(sub.market))
            except Exception as exc:
                raise to_domain(exc, sub.exchange) from None
        quote = dec(ticker.get("ask" if side == BUY else "bid") or None) or dec(
            ticker.get("last") or None
        )
        if not quote:
            raise FailedPrecondition("the market has no price now", reason="MARKET_NO_PRICE")
        return quote

    def _new_order(
        self,
        sub: Subscription,
        side: str,
        kind: str,
        quantity: Decimal,
        price: Decimal | None,
        intent: str | None,
    ) -> Order:
        order_id = new_id("ord")
        now = utcnow()
        return Order(
            order_id=order_id,
            subscription_id=sub.subscription_id,
            credential_id=sub.credential_id,
            exchange=sub.exchange,
            client_order_id=client_order_id(order_id),
            exchange_order_id=None,
            market=sub.market,
            side=side,
            type=kind,
            quantity=quantity,
            price=price,
            filled_quantity=Decimal(0),
            average_price=None,
            fee=Decimal(0),
            state=PENDING_SUBMIT,
            source=MANUAL,
            tick_key=None,
            reject_reason="",
            create_time=now,
            update_time=now,
            intent_key=intent,
        )

    async def cancel(self, principal: str | None, subscription_id: str, order_id: str) -> Order:
        sub = await self._subs.for_principal(principal, subscription_id)
        order = await self._store.get(sub.subscription_id, order_id)
        if order.state in TERMINAL:
            raise FailedPrecondition(
                f"order {order_id} is {order.state.lower()}", reason="ORDER_NOT_OPEN"
            )
        client = await self._pool.trading(sub.subscription_id, sub.credential_id, sub.exchange)
        if order.state in UNSETTLED:
            order = await self._executor.resolve(client, order)
        if order.state not in LIVE or not order.exchange_order_id:
            raise FailedPrecondition(
                f"order {order_id} is {order.state.lower()}; cancel once the exchange confirms it",
                reason="ORDER_NOT_OPEN",
            )
        if self._audit is not None:
            # The order's own row is written beside its send; on the chain it comes first.
            await self._audit.placed(order)
            await self._audit.record(
                audit_events.cancel_requested(order, audit_events.BY_PRINCIPAL)
            )
        try:
            await calls.cancel(client, to_symbol(order.market), order.exchange_order_id)
        except Exception as exc:
            if not (is_not_found(exc) or is_ambiguous(exc)):
                raise _tagged(to_domain(exc, sub.exchange), order_id) from None
            # Already gone (filled, or a lost cancel that went through): the order's own
            # state on the exchange says which.
        return await self._executor.resolve(client, order)

    async def orders(
        self, principal: str | None, subscription_id: str, requested: int, token: str
    ) -> tuple[list[Order], str]:
        sub = await self._subs.for_principal(principal, subscription_id)
        size = page_size(requested)
        rows = await self._store.orders_page(sub.subscription_id, size + 1, decode_token(token))
        return rows[:size], next_page_token(rows, size, lambda o: (o.create_time, o.order_id))

    async def trades(
        self, principal: str | None, subscription_id: str, requested: int, token: str
    ) -> tuple[list[Trade], str]:
        sub = await self._subs.for_principal(principal, subscription_id)
        size = page_size(requested)
        rows = await self._store.trades_page(sub.subscription_id, size + 1, decode_token(token))
        return rows[:size], next_page_token(rows, size, _trade_key)


def _trade_key(trade: Trade) -> tuple[datetime, str]:
    return trade.time, trade.trade_id


def _tagged(error: DomainError, order_id: str) -> DomainError:
    error.metadata["order_id"] = order_id
    return error
