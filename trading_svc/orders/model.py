"""Orders and fills as plain data, and the state machine's rules.

States (ARCHITECTURE.md, Orders and fills): PENDING_SUBMIT is committed before the exchange
is called; SUBMITTING marks the send; a send whose outcome we could not observe (timeout,
5xx, -1007, dropped connection) leaves UNKNOWN, resolved only by asking the exchange for the
client order id. The exchange's answer, once we have one, is the truth we record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

PENDING_SUBMIT = "PENDING_SUBMIT"
SUBMITTING = "SUBMITTING"
OPEN = "OPEN"
PARTIALLY_FILLED = "PARTIALLY_FILLED"
FILLED = "FILLED"
CANCELED = "CANCELED"
REJECTED = "REJECTED"
UNKNOWN = "UNKNOWN"

TERMINAL = frozenset({FILLED, CANCELED, REJECTED})
# Sent or about to be sent, with no answer from the exchange yet.
UNSETTLED = frozenset({PENDING_SUBMIT, SUBMITTING, UNKNOWN})
LIVE = frozenset({OPEN, PARTIALLY_FILLED})

BUY, SELL = "buy", "sell"
MARKET, LIMIT = "market", "limit"
MANUAL, BOT = "manual", "bot"
CLIENT_ID_PREFIX = "bm-"


def client_order_id(order_id: str) -> str:
    """Deterministic and unique per account, because order ids are: `ord_<26>` gives
    `bm-<26>`, 29 characters of Binance's 36 and within its alphabet."""
    return CLIENT_ID_PREFIX + order_id.split("_", 1)[-1]


def intent_key(
    api_key_id: str | None, principal: str, idempotency_key: str, subscription_id: str
) -> str:
    """The identity of a request's intent: the same caller (key and acting principal)
    asking again with the same Idempotency-Key for the same subscription means the same
    order, whatever became of the first request. Fields are length-prefixed, so no two
    different tuples hash alike."""
    digest = hashlib.sha256()
    for part in (api_key_id or "", principal, idempotency_key, subscription_id):
        raw = part.encode()
        digest.update(len(raw).to_bytes(4, "big") + raw)
    return digest.hexdigest()


@dataclass(frozen=True)
class Order:
    order_id: str
    subscription_id: str
    credential_id: str
    exchange: str
    client_order_id: str
    exchange_order_id: str | None
    market: str
    side: str
    type: str
    quantity: Decimal
    price: Decimal | None
    filled_quantity: Decimal
    average_price: Decimal | None
    fee: Decimal
    state: str
    source: str
    tick_key: str | None
    reject_reason: str
    create_time: datetime
    update_time: datetime
    # The request intent this order answers (see intent_key); None without an
    # Idempotency-Key (bot orders are keyed by tick_key instead).
    intent_key: str | None = None
    # Our clock's reading when the timestamp in the signed request was taken: a request
    # is refused by the exchange once it is older than recvWindow from then.
    signed_time: datetime | None = None

    def with_changes(self, **changes: Any) -> Order:
        return replace(self, **changes)


@dataclass(frozen=True)
class Fill:
    """A fill as the exchange reports it; stored once per (exchange, market, trade id)."""

    exchange_trade_id: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    time: datetime


@dataclass(frozen=True)
class Trade:
    trade_id: str
    order_id: str
    subscription_id: str
    exchange: str
    market: str
    exchange_trade_id: str
    side: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    time: datetime


@dataclass(frozen=True)
class ExchangeView:
    """What the exchange says about one of our orders."""

    exchange_order_id: str
    status: str  # ccxt: open, closed, canceled, expired, rejected
    filled: Decimal
    fills: tuple[Fill, ...]


def settled_state(view: ExchangeView, recorded_fill_qty: Decimal) -> str:
    """Our state for the exchange's view, given the fills we hold. An order is terminal only
    once every fill the exchange reports is recorded, so a missing fill keeps it live and
    the reconciler comes back for it."""
    complete = recorded_fill_qty >= view.filled
    if view.status == "closed" and complete:
        return FILLED
    if view.status in ("canceled", "expired") and complete:
        return CANCELED
    if view.status == "rejected":
        return REJECTED
    return PARTIALLY_FILLED if recorded_fill_qty > 0 else OPEN


def advances(current: str, new: str) -> bool:
    """Whether recording `new` over `current` moves forward: a terminal state is final, and
    a live order never goes back to unsettled."""
    if current in TERMINAL:
        return False
    return not (current in LIVE and new in UNSETTLED)
