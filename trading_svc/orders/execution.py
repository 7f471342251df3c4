"""Sending orders and learning their fate: the exactly-once core.

- The order row is PENDING_SUBMIT before anything is sent; SUBMITTING (compare-and-set)
  marks the send, so only one actor sends a given row at a time.
- An answer we did not get (timeout, 5xx, -1007, dropped connection) leaves UNKNOWN.
- The request carries the timestamp we chose, recorded as the row's signed_time in the same
  compare-and-set that marks SUBMITTING, before anything leaves (ccxt's throttle may hold
  the request afterwards; the exchange still judges it by that timestamp). A -1021 refusal
  (stale timestamp) was never executed: the clock is resynced and the row re-signed once.
- UNKNOWN is resolved by asking for the client order id. When the exchange has no such
  order, that alone proves nothing (the request may still be in flight); it proves the order
  was lost once the signed request is older than recvWindow, counted from signed_time,
  because the exchange refuses such a request from then on. Only then is the same row sent
  again, under the same client order id. Nothing is resubmitted on a guess.
- The exchange's view is recorded through the store, fills stored once each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import ccxt.async_support as ccxt

from exchanges.errors import is_ambiguous, to_domain
from exchanges.symbols import to_symbol
from mesh.db import utcnow
from mesh.errors import DomainError
from trading_svc.events.log import EventLog
from trading_svc.exchange import calls
from trading_svc.orders.model import (
    PENDING_SUBMIT,
    REJECTED,
    SUBMITTING,
    TERMINAL,
    UNKNOWN,
    UNSETTLED,
    Order,
)
from trading_svc.orders.store import OrderStore
from trading_svc.orders.views import view_of

log = logging.getLogger("botmesh.trading.orders")
# Beyond recvWindow, for clock error between us and the exchange.
PROOF_MARGIN = timedelta(seconds=1)


class Executor:
    def __init__(
        self, store: OrderStore, events: EventLog, recv_window_ms: int, abandon_after_s: float
    ) -> None:
        self._store = store
        self._events = events
        self._lost_after = timedelta(milliseconds=recv_window_ms) + PROOF_MARGIN
        self._abandon_after = timedelta(seconds=abandon_after_s)
        # Told about orders whose fills are not all recorded yet (the reconciler).
        self.on_incomplete: Callable[[Order], None] | None = None

    async def send(self, client: Any, order: Order) -> tuple[Order, DomainError | None]:
        """Sends an order read in PENDING_SUBMIT or UNKNOWN (once proven lost). Returns the
        order as it stands and, when the exchange refused it, the error to report."""
        sending = await self._store.transition(order, state=SUBMITTING, signed_time=utcnow())
        if sending is None:  # someone else moved it first; their outcome stands
            return await self._store.load(order.order_id), None
        await self._events.order_changed(sending)
        symbol = to_symbol(order.market)
        try:
            try:
                raw = await calls.submit(client, symbol, sending)
            except ccxt.InvalidNonce:  # refused for its timestamp: never executed
                await client.load_time_difference()
                resigned = await self._store.transition(sending, signed_time=utcnow())
                if resigned is None:
                    return await self._store.load(order.order_id), None
                sending = resigned
                raw = await calls.submit(client, symbol, sending)
        except Exception as exc:
            return await self._failed_send(sending, exc, order.exchange)
        return await self._record(client, sending, raw), None

    async def _failed_send(
        self, order: Order, exc: Exception, exchange: str
    ) -> tuple[Order, DomainError | None]:
        fields = {"order_id": order.order_id, "error": type(exc).__name__}
        if is_ambiguous(exc):
            log.warning("order outcome unknown", extra={"fields": fields})
            unknown = await self._store.transition(order, state=UNKNOWN)
            if unknown is not None:
                await self._events.order_changed(unknown)
            return unknown or await self._store.load(order.order_id), None
        error = to_domain(exc, exchange)
        log.info("order refused", extra={"fields": {**fields, "reason": error.reason}})
        rejected = await self._store.transition(order, state=REJECTED, reject_reason=error.reason)
        if rejected is not None:
            await self._events.order_changed(rejected)
        error.metadata["order_id"] = order.order_id
        return rejected or await self._store.load(order.order_id), error

    async def resolve(self, client: Any, order: Order) -> Order:
        """One step towards the exchange's truth for an unsettled or live order. Exchange
        failures leave the order as it is, for the next attempt."""
        symbol = to_symbol(order.market)
        try:
            if order.exchange_order_id and order.state not in UNSETTLED:
                raw = await client.fetch_order(order.exchange_order_id, symbol)
            else:
                raw = await calls.by_client_id(client, symbol, order)
        except ccxt.OrderNotFound:
            return await self._absent(client, order)
        except Exception as exc:
            log.info(
                "order not resolved yet",
                extra={"fields": {"order_id": order.order_id, "error": type(exc).__name__}},
            )
            return order
        return await self._record(client, order, raw)

    async def _absent(self, client: Any, order: Order) -> Order:
        if order.state not in UNSETTLED:
            return order  # a live order the exchange cannot find now: ask again later
        # A row never signed (PENDING_SUBMIT, or written before signed_time) counts from its
        # last change, which is no later than any signing.
        if utcnow() - (order.signed_time or order.update_time) < self._lost_after:
            return order  # the request may still arrive: not proven lost yet
        if utcnow() - order.create_time > self._abandon_after:
            rejected = await self._store.transition(
                order, state=REJECTED, reject_reason="SUBMISSION_LOST"
            )
            if rejected is not None:
                log.warning("order abandoned", extra={"fields": {"order_id": order.order_id}})
                await self._events.order_changed(rejected)
            return rejected or await self._store.load(order.order_id)
        log.warning(
            "order proven lost; sending again", extra={"fields": {"order_id": order.order_id}}
        )
        again = (
            order
            if order.state != SUBMITTING
            else await self._store.transition(order, state=UNKNOWN)
        )
        if again is None:
            return await self._store.load(order.order_id)
        sent, _ = await self.send(client, again)
        return sent

    async def _record(self, client: Any, order: Order, raw: dict[str, Any]) -> Order:
        view = view_of(raw)
        if view.filled > sum((f.quantity for f in view.fills), start=view.filled * 0):
            try:
                view = view_of(
                    raw,
                    await calls.fills_of(client, to_symbol(order.market), view.exchange_order_id),
                )
            except Exception as exc:  # the fills come with the next resolve
                log.info(
                    "fills not fetched yet",
                    extra={"fields": {"order_id": order.order_id, "error": type(exc).__name__}},
                )
        before, after, new_trades = await self._store.record_view(order.order_id, view)
        if after.filled_quantity < view.filled and self.on_incomplete is not None:
            self.on_incomplete(after)
        for trade in new_trades:
            await self._events.filled(trade)
        if after.state != before.state or after.filled_quantity != before.filled_quantity:
            await self._events.order_changed(after)
        return after


def needs_follow_up(order: Order) -> bool:
    return order.state not in TERMINAL and order.state != PENDING_SUBMIT
