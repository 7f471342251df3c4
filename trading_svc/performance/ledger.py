"""A subscription's ledger, replayed from its fills: pure arithmetic on Decimals, no I/O.

The rules the replay keeps (spot, long only):
- Fees count as the exchange charges them. A fee in the market's base asset comes off the
  coins (a buy receives `quantity - fee`; a sell gives up `quantity + fee`) and counts in the
  fee total at the fill's price; a fee in any other asset counts as quote, as the allocation
  check does (orders/allocation.py).
- Average cost: `cost` is the quote paid for the coins still held, buy fees included; a sell
  releases the held share of it. Realized PnL is proceeds (less a quote fee) minus the
  released cost, so it is net of every fee, and
  `allocation + realized + unrealized` is exactly the quote the subscription would hold if
  it sold at `price` with no further fee.
- `entry_price` is the average fill price of the open position (fees excluded, as stop-loss
  and take-profit compare market prices with it); a partial exit leaves it unchanged. None
  when flat.
- A round trip opens with the first buy from flat and closes when the position falls to
  dust: at most DUST_SHARE of the largest position of the trip (a base fee and the market's
  amount step leave coins that cannot be sold). Its pnl is the realized PnL of its sells; the
  dust stays in the position with its cost. A sell with no trip open (selling dust) adds to
  realized PnL but makes no round trip.
- A sell of more than is held (which the allocation check prevents) realizes what is held;
  the rest is counted at its own price, so it changes nothing but the fee.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from exchanges.symbols import base_asset

BUY, SELL = "buy", "sell"
ZERO = Decimal(0)
DUST_SHARE = Decimal("0.01")


@dataclass(frozen=True)
class LedgerFill:
    """One fill as the ledger reads it (a row of `trades`)."""

    side: str
    market: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    time: datetime


@dataclass(frozen=True)
class RoundTrip:
    """A closed position: from the first buy out of flat to the sell that left dust."""

    entry_time: datetime
    exit_time: datetime
    pnl: Decimal


@dataclass(frozen=True)
class Realization:
    """Realized PnL of one sell, when it happened (for the daily loss limit)."""

    time: datetime
    pnl: Decimal


@dataclass(frozen=True)
class OpenTrip:
    entry_time: datetime
    peak: Decimal
    pnl: Decimal
    entry_value: Decimal  # sum of price x quantity of the buys still held, pro rata
    entry_quantity: Decimal


@dataclass(frozen=True)
class LedgerState:
    position: Decimal = ZERO
    cost: Decimal = ZERO
    realized: Decimal = ZERO
    fees: Decimal = ZERO
    round_trips: tuple[RoundTrip, ...] = ()
    realizations: tuple[Realization, ...] = ()
    open_trip: OpenTrip | None = None

    @property
    def entry_price(self) -> Decimal | None:
        trip = self.open_trip
        if trip is None or trip.entry_quantity <= 0:
            return None
        return trip.entry_value / trip.entry_quantity

    @property
    def flat(self) -> bool:
        return self.open_trip is None


def replay(fills: Iterable[LedgerFill], state: LedgerState | None = None) -> LedgerState:
    """The state after `fills`, oldest first, applied to `state` (empty by default)."""
    book = _Book(state or LedgerState())
    for fill in fills:
        book.apply(fill)
    return book.state()


class _Book:
    """The replay's working copy: mutable, so a long history replays in linear time."""

    def __init__(self, state: LedgerState) -> None:
        self.position = state.position
        self.cost = state.cost
        self.realized = state.realized
        self.fees = state.fees
        self.round_trips = list(state.round_trips)
        self.realizations = list(state.realizations)
        self.trip = state.open_trip

    def state(self) -> LedgerState:
        return LedgerState(
            self.position,
            self.cost,
            self.realized,
            self.fees,
            tuple(self.round_trips),
            tuple(self.realizations),
            self.trip,
        )

    def apply(self, fill: LedgerFill) -> None:
        in_base = bool(fill.fee_asset) and fill.fee_asset == base_asset(fill.market)
        self.fees += fill.fee * fill.price if in_base else fill.fee
        if fill.side == BUY:
            self._buy(fill, in_base)
        else:
            self._sell(fill, in_base)

    def _buy(self, fill: LedgerFill, in_base: bool) -> None:
        value = fill.price * fill.quantity
        self.position += fill.quantity - fill.fee if in_base else fill.quantity
        self.cost += value if in_base else value + fill.fee
        trip = self.trip or OpenTrip(fill.time, ZERO, ZERO, ZERO, ZERO)
        self.trip = replace(
            trip,
            peak=max(trip.peak, self.position),
            entry_value=trip.entry_value + value,
            entry_quantity=trip.entry_quantity + fill.quantity,
        )

    def _sell(self, fill: LedgerFill, in_base: bool) -> None:
        leaves = fill.quantity + fill.fee if in_base else fill.quantity
        proceeds = fill.price * fill.quantity - (ZERO if in_base else fill.fee)
        before = self.position
        held = min(leaves, before)
        released = self.cost * held / before if before > 0 else ZERO
        # Coins sold beyond the position have no cost of ours: counted at their own price.
        pnl = proceeds - released - (leaves - held) * fill.price
        self.position = before - held
        self.cost -= released
        self.realized += pnl
        self.realizations.append(Realization(fill.time, pnl))
        trip = self.trip
        if trip is None:
            return
        if self.position <= trip.peak * DUST_SHARE:
            self.round_trips.append(RoundTrip(trip.entry_time, fill.time, trip.pnl + pnl))
            self.trip = None
            return
        kept = self.position / before
        self.trip = replace(
            trip,
            pnl=trip.pnl + pnl,
            entry_value=trip.entry_value * kept,
            entry_quantity=trip.entry_quantity * kept,
        )


def realized_since(state: LedgerState, since: datetime) -> Decimal:
    """Realized PnL of the sells at or after `since` (partial exits included)."""
    return sum((r.pnl for r in state.realizations if r.time >= since), ZERO)


def last_loss_exit(state: LedgerState) -> datetime | None:
    """When the latest losing round trip closed; None if none lost."""
    losses = [t.exit_time for t in state.round_trips if t.pnl < 0]
    return max(losses) if losses else None


def unrealized(state: LedgerState, price: Decimal) -> Decimal:
    """What selling the position at `price` would gain over its cost (before a sell fee)."""
    return state.position * price - state.cost


def equity(state: LedgerState, allocation: Decimal, price: Decimal) -> Decimal:
    return allocation + state.realized + unrealized(state, price)


def exposure(state: LedgerState, price: Decimal) -> Decimal:
    """The position's quote value at `price`."""
    return state.position * price


def trips_between(state: LedgerState, start: datetime, end: datetime) -> list[RoundTrip]:
    """Round trips that closed in [start, end)."""
    return [t for t in state.round_trips if start <= t.exit_time < end]
