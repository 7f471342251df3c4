"""ccxt's order and trade dicts read into our terms: ExchangeView and Fill.

The exchange adapter (exchange/calls.py) hands back ccxt's dicts as they come; reading them
into the order model happens here, on the orders side, so the adapter never imports the
domain above it. A trade without an id is skipped (it cannot be stored once), and a missing
number reads as 0.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from mesh.decimals import dec
from trading_svc.orders.model import ExchangeView, Fill


def _fill(raw: dict[str, Any]) -> Fill | None:
    trade_id = raw.get("id")
    if trade_id is None:
        return None
    fee = raw.get("fee") or {}
    millis = raw.get("timestamp") or time.time() * 1000
    return Fill(
        exchange_trade_id=str(trade_id),
        price=dec(raw.get("price")) or Decimal(0),
        quantity=dec(raw.get("amount")) or Decimal(0),
        fee=dec(fee.get("cost")) or Decimal(0),
        fee_asset=str(fee.get("currency") or ""),
        time=datetime.fromtimestamp(millis / 1000, UTC),
    )


def view_of(raw: dict[str, Any], fills: list[dict[str, Any]] | None = None) -> ExchangeView:
    """Our view of a ccxt order; fills from `fills` (myTrades) or the order's own trades."""
    parsed = [_fill(t) for t in (fills if fills is not None else raw.get("trades") or [])]
    return ExchangeView(
        exchange_order_id=str(raw["id"]),
        status=str(raw.get("status") or "open"),
        filled=dec(raw.get("filled")) or Decimal(0),
        fills=tuple(f for f in parsed if f is not None),
    )
