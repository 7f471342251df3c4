"""Markets and their filters, from ccxt's unified market list (any exchange).

Precision and limits come from the exchange's own filters as ccxt reports them (Binance:
LOT_SIZE, PRICE_FILTER, NOTIONAL), so an order we would send is refused here with a clear
INVALID_ARGUMENT instead of by the exchange. Only spot markets count as traded.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ccxt.base.decimal_to_precision import DECIMAL_PLACES, TICK_SIZE

from exchanges.symbols import to_symbol
from mesh.decimals import dec, dec_str
from mesh.errors import FailedPrecondition, InvalidArgument


@dataclass(frozen=True)
class Filters:
    symbol: str
    base: str
    quote: str
    amount_step: Decimal | None
    price_tick: Decimal | None
    min_amount: Decimal | None
    max_amount: Decimal | None
    min_cost: Decimal | None
    # The exchange's taker fee rate for the market, as ccxt lists it (None when unknown).
    taker_fee: Decimal | None = None

    def check(self, quantity: Decimal, price: Decimal | None, reference: Decimal) -> None:
        """Raises INVALID_ARGUMENT naming the field the exchange's filters would refuse.
        `reference` prices a market order for the min-notional check."""
        if self.amount_step and quantity % self.amount_step != 0:
            raise _field("quantity", f"must be a multiple of {dec_str(self.amount_step)}")
        if self.min_amount and quantity < self.min_amount:
            raise _field("quantity", f"is below the minimum {dec_str(self.min_amount)}")
        if self.max_amount and quantity > self.max_amount:
            raise _field("quantity", f"is above the maximum {dec_str(self.max_amount)}")
        if price is not None and self.price_tick and price % self.price_tick != 0:
            raise _field("price", f"must be a multiple of {dec_str(self.price_tick)}")
        notional = quantity * (price if price is not None else reference)
        if self.min_cost and notional < self.min_cost:
            raise InvalidArgument(
                f"quantity: the order's value {dec_str(notional)} {self.quote} is below the "
                f"market's minimum {dec_str(self.min_cost)}",
                reason="BELOW_MIN_NOTIONAL",
                metadata={"field": "quantity", "min_notional": dec_str(self.min_cost)},
            )


def _step(value: Any, places: bool) -> Decimal | None:
    """ccxt gives precision as a step (TICK_SIZE mode, e.g. Binance) or as a number of
    decimal places (DECIMAL_PLACES mode); filters want the step."""
    number = dec(value)
    if number is None or not places:
        return number
    return Decimal(1).scaleb(-int(number))


def _field(name: str, description: str) -> InvalidArgument:
    return InvalidArgument.for_field(name, description, reason="ORDER_FILTER")


def filters_for(client: Any, market: str) -> Filters:
    """The filters of `market` on the client's loaded market list."""
    found = (client.markets or {}).get(to_symbol(market))
    if found is None or not found.get("spot", True):
        raise FailedPrecondition(
            f"market {market} is not traded on this exchange",
            reason="MARKET_UNKNOWN",
            metadata={"market": market},
        )
    limits = found.get("limits") or {}
    precision = found.get("precision") or {}
    places = getattr(client, "precisionMode", TICK_SIZE) == DECIMAL_PLACES
    return Filters(
        symbol=found["symbol"],
        base=found["base"],
        quote=found["quote"],
        amount_step=_step(precision.get("amount"), places),
        price_tick=_step(precision.get("price"), places),
        min_amount=dec((limits.get("amount") or {}).get("min")),
        max_amount=dec((limits.get("amount") or {}).get("max")),
        min_cost=dec((limits.get("cost") or {}).get("min")),
        taker_fee=dec(found.get("taker")),
    )
