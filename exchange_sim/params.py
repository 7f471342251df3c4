"""Parsing and validating Binance request parameters (strings in, typed values out).

Binance rejects malformed parameters with specific codes (-1100, -1102, -1106, -1115 ...)
before any business rule runs; reproducing that order keeps client error handling honest.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from exchange_sim import errors
from exchange_sim.orders import OrderRequest, OrderType, Side, TimeInForce

_DECIMAL = re.compile(errors.LEGAL_DECIMAL)
_CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_ID_ALPHABET = string.ascii_letters + string.digits

Params = Mapping[str, str]


def opt_decimal(params: Params, name: str) -> Decimal | None:
    """Optional decimal parameter in Binance's grammar."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _DECIMAL.match(raw):
        raise errors.illegal_chars(name)
    try:
        return Decimal(raw)
    except InvalidOperation as exc:  # pragma: no cover - regex already guarantees syntax
        raise errors.illegal_chars(name) from exc


def opt_int(params: Params, name: str) -> int | None:
    """Optional integer parameter."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.lstrip("-").isdigit():
        raise errors.illegal_chars(name)
    return int(raw)


def required(params: Params, name: str) -> str:
    """Mandatory non-empty string parameter."""
    value = params.get(name)
    if not value:
        raise errors.mandatory(name)
    return value


def limit(params: Params, default: int, maximum: int) -> int:
    """``limit`` parameter clamped to Binance's maximum."""
    value = opt_int(params, "limit")
    if value is None:
        return default
    return max(1, min(value, maximum))


def new_client_order_id() -> str:
    """Server-generated clientOrderId, like Binance's 22-character random ids."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))


def client_order_id(params: Params, name: str = "newClientOrderId") -> str:
    """Caller's client order id (validated), or a generated one."""
    raw = params.get(name)
    if not raw:
        return new_client_order_id()
    if not _CLIENT_ID.match(raw):
        raise errors.illegal_chars(name)
    return raw


def order_request(params: Params, symbols: Mapping[str, object]) -> tuple[OrderRequest, str]:
    """Parse POST /api/v3/order into (request, newOrderRespType) with Binance's error codes."""
    symbol = required(params, "symbol")
    if symbol not in symbols:
        raise errors.bad_symbol()
    try:
        side = Side(required(params, "side"))
    except ValueError as exc:
        raise errors.BinanceError(-1117, "Invalid side.") from exc
    try:
        otype = OrderType(required(params, "type"))
    except ValueError as exc:
        raise errors.BinanceError(-1116, "Invalid orderType.") from exc
    quantity = opt_decimal(params, "quantity")
    quote_qty = opt_decimal(params, "quoteOrderQty")
    price = opt_decimal(params, "price")
    tif_raw = params.get("timeInForce") or None
    tif: TimeInForce | None = None
    if otype is OrderType.LIMIT:
        try:
            tif = TimeInForce(required(params, "timeInForce"))
        except ValueError as exc:
            raise errors.BinanceError(-1115, "Invalid timeInForce.") from exc
    elif tif_raw is not None:
        raise errors.not_required("timeInForce")
    if otype is OrderType.MARKET:
        if price is not None:
            raise errors.not_required("price")
        if quantity is None and quote_qty is None:
            raise errors.BinanceError(
                -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
            )
        if quantity is not None and quote_qty is not None:
            raise errors.not_required("quoteOrderQty")
    else:
        if quote_qty is not None:
            raise errors.not_required("quoteOrderQty")
        if quantity is None:
            raise errors.mandatory("quantity")
        if price is None:
            raise errors.mandatory("price")
    resp_type = params.get("newOrderRespType") or "FULL"
    if resp_type not in ("ACK", "RESULT", "FULL"):
        raise errors.BinanceError(
            -1100, "Illegal characters found in parameter 'newOrderRespType'."
        )
    req = OrderRequest(
        symbol=symbol,
        side=side,
        type=otype,
        client_order_id=client_order_id(params),
        quantity=quantity,
        quote_qty=quote_qty,
        price=price,
        time_in_force=tif,
    )
    return req, resp_type
