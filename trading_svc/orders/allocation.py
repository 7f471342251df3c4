"""Allocation: a subscription never commits more quote than its allocation, and never sells
more base than it holds, however much the shared exchange account holds.

Committed = net quote spent on fills (buys at cost plus fees, less sells' proceeds) plus what
live and unsettled buy orders may still spend. A fee charged in the base asset (Binance
takes a buy's fee from the coins bought) lowers the position, not the quote: the
subscription holds what it received net of it, and may sell no more. The check runs with the subscription row
locked (orders/store.py), so concurrent orders of one subscription cannot both slip in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from exchanges.symbols import base_asset
from mesh.decimals import dec_str
from mesh.errors import FailedPrecondition
from trading_svc.orders.model import BUY, MARKET

# Headroom a buy reserves on top of its price: the fee, and for market orders slippage.
FEE_BUFFER = Decimal("0.002")
SLIPPAGE_BUFFER = Decimal("0.01")


@dataclass(frozen=True)
class Exposure:
    position: Decimal
    net_spent: Decimal
    open_buy_reserve: Decimal
    open_sell_quantity: Decimal

    @property
    def committed(self) -> Decimal:
        return max(self.net_spent, Decimal(0)) + self.open_buy_reserve


@dataclass(frozen=True)
class FillSums:
    """Sums over one group of a subscription's fills: one side, market and fee asset."""

    side: str
    market: str
    fee_asset: str
    quantity: Decimal
    value: Decimal  # price x quantity, in the quote asset
    fee: Decimal  # in fee_asset


def held_and_spent(groups: Iterable[FillSums]) -> tuple[Decimal, Decimal]:
    """(position in the base asset, net quote spent) of a subscription's fills. Fees in
    the market's base asset come off the position; any other fee asset is counted as quote,
    as before fee assets were told apart."""
    position, spent = Decimal(0), Decimal(0)
    for g in groups:
        sign = 1 if g.side == BUY else -1
        position += sign * g.quantity
        spent += sign * g.value
        if g.fee_asset and g.fee_asset == base_asset(g.market):
            position -= g.fee
        else:
            spent += g.fee
    return position, spent


def reserve_price(order_type: str, price: Decimal) -> Decimal:
    """What a buy may cost per unit, with headroom."""
    buffer = FEE_BUFFER + (SLIPPAGE_BUFFER if order_type == MARKET else 0)
    return price * (1 + buffer)


def check(
    exposure: Exposure,
    allocation: Decimal,
    side: str,
    order_type: str,
    quantity: Decimal,
    price: Decimal,
) -> None:
    """Raises FAILED_PRECONDITION when the order would break the allocation or sell what the
    subscription does not hold."""
    if side == BUY:
        needed = quantity * reserve_price(order_type, price)
        available = allocation - exposure.committed
        if needed > available:
            raise FailedPrecondition(
                f"the order needs {dec_str(needed.quantize(Decimal('0.01')))} but only "
                f"{dec_str(max(available, Decimal(0)).quantize(Decimal('0.01')))} of the "
                "subscription's allocation is free",
                reason="ALLOCATION_EXCEEDED",
                metadata={
                    "allocation": dec_str(allocation),
                    "committed": dec_str(exposure.committed),
                },
            )
        return
    free = exposure.position - exposure.open_sell_quantity
    if quantity > free:
        raise FailedPrecondition(
            f"the order sells {dec_str(quantity)} but the subscription holds {dec_str(max(free, Decimal(0)))}",
            reason="POSITION_EXCEEDED",
            metadata={"position": dec_str(exposure.position)},
        )
