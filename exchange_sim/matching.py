"""Order placement, fills, fees and cancels against the synthetic book.

Taker flow: market orders (and marketable limit orders) walk the book's levels, so large
orders slip.  Maker flow: resting limit orders fill at their own price when the market trades
through them; each matching step fills at most the available liquidity, so big orders go
PARTIALLY_FILLED first.  Fees are charged in the quote asset (buy: on top, sell: deducted),
or, for accounts with ``fee_asset="received"``, in the asset the fill pays out (a buy's in
the base asset, deducted from what it receives).  All amounts are ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal

from exchange_sim import errors, filters
from exchange_sim.accounts import Account
from exchange_sim.depth import Book, Level
from exchange_sim.market import MarketState
from exchange_sim.orders import (
    Fill,
    Order,
    OrderRequest,
    OrderType,
    Side,
    Status,
    TimeInForce,
)

_Q8 = Decimal("0.00000001")


@dataclass(frozen=True)
class Fees:
    """Commission rates (fractions, e.g. 0.001 = 0.1 %)."""

    maker: Decimal
    taker: Decimal

    @property
    def worst(self) -> Decimal:
        """Rate used to size buy locks so any fill is covered."""
        return max(self.maker, self.taker)


def _fee(quote: Decimal, rate: Decimal) -> Decimal:
    return (quote * rate).quantize(_Q8, rounding=ROUND_HALF_UP)


def _floor_step(qty: Decimal, step: Decimal) -> Decimal:
    return (qty / step).quantize(Decimal(1), rounding=ROUND_DOWN) * step


class MatchingEngine:
    """Orders and trades of every account, and the rules that move balances."""

    def __init__(
        self,
        markets: Mapping[str, MarketState],
        fees: Fees,
        book: Callable[[MarketState], Book],
        now_ms: Callable[[], int],
    ) -> None:
        self._markets = markets
        self.fees = fees
        self._book = book
        self._now = now_ms
        self._orders_by_key: dict[str, list[Order]] = {}
        self._open: dict[str, dict[int, Order]] = {symbol: {} for symbol in markets}
        self._trades_by_key: dict[str, list[Fill]] = {}
        self._next_order_id = 1
        self._next_trade_id = 1

    # -- queries -----------------------------------------------------------------------------
    def orders_of(self, api_key: str) -> list[Order]:
        """Every order of an account, oldest first."""
        return list(self._orders_by_key.get(api_key, []))

    def trades_of(self, api_key: str) -> list[Fill]:
        """Every fill of an account, oldest first."""
        return list(self._trades_by_key.get(api_key, []))

    def open_orders(self, api_key: str, symbol: str | None) -> list[Order]:
        """Open orders of an account, optionally for one symbol."""
        return [
            o
            for o in self._orders_by_key.get(api_key, [])
            if o.is_open and (symbol is None or o.symbol == symbol)
        ]

    def find(
        self, api_key: str, symbol: str, order_id: int | None, client_order_id: str | None
    ) -> Order | None:
        """Order by id, or the most recent one with ``client_order_id``."""
        for order in reversed(self._orders_by_key.get(api_key, [])):
            if order.symbol != symbol:
                continue
            if order_id is not None and order.order_id == order_id:
                return order
            if order_id is None and order.client_order_id == client_order_id:
                return order
        return None

    # -- placement ---------------------------------------------------------------------------
    def place(self, account: Account, req: OrderRequest) -> Order:
        """Validate, lock, fill what is marketable, rest the rest (or raise a BinanceError)."""
        client_order_id = req.client_order_id
        market = self._markets[req.symbol]
        book = self._book(market)
        open_here = self.open_orders(account.api_key, req.symbol)
        if any(o.client_order_id == client_order_id for o in open_here):
            raise errors.duplicate_order()
        filters.check_open_orders(len(open_here))
        if req.type is OrderType.MARKET:
            return self._place_market(account, req, client_order_id, market, book)
        return self._place_limit(account, req, client_order_id, market, book)

    def _place_limit(
        self,
        account: Account,
        req: OrderRequest,
        client_order_id: str,
        market: MarketState,
        book: Book,
    ) -> Order:
        spec = market.spec
        assert req.price is not None and req.quantity is not None
        filters.check_price(spec, req.price)
        filters.check_quantity(spec, req.quantity)
        filters.check_notional(spec, req.price * req.quantity)
        buy = req.side is Side.BUY
        marketable = req.price >= book.best_ask if buy else req.price <= book.best_bid
        if req.type is OrderType.LIMIT_MAKER and marketable:
            raise errors.would_take()
        order = self._new_order(account, req, client_order_id, req.price, req.quantity)
        if buy:
            need = (req.price * req.quantity * (1 + self.fees.worst)).quantize(_Q8, ROUND_UP)
            account.lock(spec.quote, need)
            order.lock_asset, order.locked = spec.quote, need
        else:
            account.lock(spec.base, req.quantity)
            order.lock_asset, order.locked = spec.base, req.quantity
        self._register(order)
        levels = self._crossable(book, order) if marketable else []
        tif = order.time_in_force
        if tif is TimeInForce.FOK and sum(q for _, q in levels) < order.orig_qty:
            levels = []
        for price, qty in levels:
            if order.remaining <= 0:
                break
            self._fill(account, order, market, price, min(qty, order.remaining), maker=False)
        if order.remaining > 0 and tif is not TimeInForce.GTC:
            self._finish(account, order, Status.EXPIRED)
        elif order.remaining > 0:
            self._open[order.symbol][order.order_id] = order
        return order

    @staticmethod
    def _market_plan(req: OrderRequest, market: MarketState, book: Book) -> list[Level]:
        """Levels a market order takes: by base quantity, or by quote budget (quoteOrderQty)."""
        spec = market.spec
        levels = book.asks if req.side is Side.BUY else book.bids
        plan: list[Level] = []
        if req.quote_qty is not None:
            filters.check_notional(spec, req.quote_qty)
            budget = req.quote_qty
            for price, qty in levels:
                take = min(qty, _floor_step(budget / price, spec.step_size))
                if take <= 0:
                    break
                plan.append((price, take))
                budget -= price * take
            return plan
        assert req.quantity is not None
        filters.check_quantity(spec, req.quantity)
        filters.check_notional(spec, (book.best_bid + book.best_ask) / 2 * req.quantity)
        left = req.quantity
        for price, qty in levels:
            if left <= 0:
                break
            plan.append((price, min(qty, left)))
            left -= min(qty, left)
        return plan

    def _place_market(
        self,
        account: Account,
        req: OrderRequest,
        client_order_id: str,
        market: MarketState,
        book: Book,
    ) -> Order:
        spec = market.spec
        plan = self._market_plan(req, market, book)
        base_total = sum((q for _, q in plan), Decimal(0))
        if req.side is Side.BUY:
            base_fee = account.fee_asset == "received"
            rate = Decimal(0) if base_fee else self.fees.taker
            cost = sum((p * q + _fee(p * q, rate) for p, q in plan), Decimal(0))
            if cost > account.free(spec.quote):
                raise errors.insufficient_balance()
        elif base_total > account.free(spec.base):
            raise errors.insufficient_balance()
        orig_qty = base_total if req.quantity is None else req.quantity
        order = self._new_order(account, req, client_order_id, Decimal(0), orig_qty)
        self._register(order)
        for price, qty in plan:
            self._fill(account, order, market, price, qty, maker=False)
        filled = order.orig_qty > 0 and order.remaining <= 0
        self._finish(account, order, Status.FILLED if filled else Status.EXPIRED)
        return order

    def _new_order(
        self,
        account: Account,
        req: OrderRequest,
        client_order_id: str,
        price: Decimal,
        qty: Decimal,
    ) -> Order:
        now = self._now()
        order = Order(
            order_id=self._next_order_id,
            api_key=account.api_key,
            symbol=req.symbol,
            client_order_id=client_order_id,
            side=req.side,
            type=req.type,
            time_in_force=req.time_in_force or TimeInForce.GTC,
            price=price,
            orig_qty=qty,
            orig_quote_qty=req.quote_qty or Decimal(0),
            time_ms=now,
            update_ms=now,
        )
        self._next_order_id += 1
        return order

    def _register(self, order: Order) -> None:
        self._orders_by_key.setdefault(order.api_key, []).append(order)

    @staticmethod
    def _crossable(book: Book, order: Order) -> list[Level]:
        if order.side is Side.BUY:
            return [(p, q) for p, q in book.asks if p <= order.price]
        return [(p, q) for p, q in book.bids if p >= order.price]

    # -- fills -------------------------------------------------------------------------------
    def _pay(self, account: Account, order: Order, asset: str, amount: Decimal) -> None:
        from_lock = min(amount, order.locked) if order.lock_asset == asset else Decimal(0)
        if from_lock > 0:
            account.spend_locked(asset, from_lock)
            order.locked -= from_lock
        if amount > from_lock:  # market orders (no lock) or rounding dust beyond the lock
            account.balance(asset).free -= amount - from_lock

    def _fill(
        self,
        account: Account,
        order: Order,
        market: MarketState,
        price: Decimal,
        qty: Decimal,
        *,
        maker: bool,
    ) -> Fill:
        spec = market.spec
        quote = price * qty
        rate = self.fees.maker if maker else self.fees.taker
        buy = order.side is Side.BUY
        commission_asset = spec.quote
        if buy and account.fee_asset == "received":
            commission, commission_asset = _fee(qty, rate), spec.base
            self._pay(account, order, spec.quote, quote)
            account.credit(spec.base, qty - commission)
        elif buy:
            commission = _fee(quote, rate)
            self._pay(account, order, spec.quote, quote + commission)
            account.credit(spec.base, qty)
        else:
            commission = _fee(quote, rate)
            self._pay(account, order, spec.base, qty)
            account.credit(spec.quote, quote - commission)
        now = self._now()
        fill = Fill(
            trade_id=self._next_trade_id,
            order_id=order.order_id,
            symbol=order.symbol,
            price=price,
            qty=qty,
            quote_qty=quote,
            commission=commission,
            commission_asset=commission_asset,
            time_ms=now,
            is_buyer=buy,
            is_maker=maker,
        )
        self._next_trade_id += 1
        order.fills.append(fill)
        order.executed_qty += qty
        order.cum_quote += quote
        order.update_ms = now
        order.status = Status.FILLED if order.remaining <= 0 else Status.PARTIALLY_FILLED
        self._trades_by_key.setdefault(order.api_key, []).append(fill)
        if order.status is Status.FILLED:
            self._finish(account, order, Status.FILLED)
        return fill

    def _finish(self, account: Account, order: Order, status: Status) -> None:
        if order.locked > 0:
            account.unlock(order.lock_asset, order.locked)
            order.locked = Decimal(0)
        order.status = status
        order.update_ms = self._now()
        self._open[order.symbol].pop(order.order_id, None)

    # -- cancel ------------------------------------------------------------------------------
    def cancel(self, account: Account, order: Order) -> Order:
        """Cancel an open order and release its lock, or raise -2011."""
        if not order.is_open:
            raise errors.unknown_order_cancel()
        self._finish(account, order, Status.CANCELED)
        return order

    # -- maker matching ----------------------------------------------------------------------
    def match(self, accounts: Callable[[str], Account | None]) -> int:
        """One matching step over all resting orders; returns the number of fills."""
        fills = 0
        for symbol, resting in self._open.items():
            if not resting:
                continue
            market = self._markets[symbol]
            book = self._book(market)
            for order in sorted(resting.values(), key=lambda o: o.order_id):
                buy = order.side is Side.BUY
                crossed = book.best_ask <= order.price if buy else book.best_bid >= order.price
                account = accounts(order.api_key)
                if not crossed or account is None:
                    continue
                top = book.asks[0][1] if buy else book.bids[0][1]
                available = market.maker_liquidity or top
                qty = min(order.remaining, max(available, market.spec.step_size))
                self._fill(account, order, market, order.price, qty, maker=True)
                fills += 1
        return fills
