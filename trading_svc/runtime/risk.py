"""The risk controls, as pure rules over a bot's book and the candle just closed.

Each rule answers with a `Verdict` naming itself, what it did and why, or None. The tick
(runtime/tick.py) asks them in this order, and the first that acts decides the candle:

1. Kill switch (`kill_switch`): equity at the close fell `max_drawdown` or more below its
   peak. The position is closed and the subscription paused, with the rule as its reason,
   until its principal resumes it (runtime/tick.py).
2. Exits (`exit_on`): holding a position, the candle's low reached the stop-loss price
   (entry x (1 - stop_loss)) or its high the take-profit price (entry x (1 + take_profit)).
   Both in one candle counts as the stop-loss: the cautious reading of a candle whose path
   inside is unknown. The position is closed.
3. Entry blocks (`entry_block`), asked only before opening a position: today's realised loss
   (UTC day) reached `daily_loss`; a losing trade closed less than `cooldown_s` ago; the
   account's exchange backoff is running. Exits are never blocked by these.

The allocation cap is sizing's: an entry is sized within the budget still free
(allocation, capped by max_allocation, minus what is committed), and one that does not fit
is blocked with ALLOCATION_CAP.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from mesh.decimals import dec_str
from trading_svc.runtime.terms import Limits

# Rules (botmesh.trading.v1.RiskRule without its prefix) and outcomes (RiskOutcome).
ALLOCATION_CAP = "ALLOCATION_CAP"
STOP_LOSS = "STOP_LOSS"
TAKE_PROFIT = "TAKE_PROFIT"
MAX_DRAWDOWN = "MAX_DRAWDOWN"
DAILY_LOSS = "DAILY_LOSS"
COOLDOWN = "COOLDOWN"
EXCHANGE_BACKOFF = "EXCHANGE_BACKOFF"
ORDER_FAILURES = "ORDER_FAILURES"
BLOCKED, CLOSED, PAUSED = "BLOCKED", "CLOSED", "PAUSED"


@dataclass(frozen=True)
class Candle:
    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal


@dataclass(frozen=True)
class Book:
    """A bot's standing at the candle's close."""

    position: Decimal  # base held
    entry_price: Decimal | None  # average, None when flat
    equity: Decimal  # allocation + realised + unrealised at the close
    peak_equity: Decimal  # highest equity seen, this one included
    realized_today: Decimal  # realised PnL since the UTC day began
    last_loss_exit: datetime | None  # when the last losing trade closed


@dataclass(frozen=True)
class Verdict:
    rule: str
    outcome: str
    message: str


def kill_switch(limits: Limits, book: Book) -> Verdict | None:
    if not limits.max_drawdown or book.peak_equity <= 0:
        return None
    drawdown = (book.peak_equity - book.equity) / book.peak_equity
    if drawdown < limits.max_drawdown:
        return None
    return Verdict(
        MAX_DRAWDOWN,
        PAUSED,
        f"equity {_money(book.equity)} is {_pct(drawdown)} below its peak "
        f"{_money(book.peak_equity)} (limit {_pct(limits.max_drawdown)})",
    )


def exit_on(limits: Limits, book: Book, candle: Candle) -> Verdict | None:
    if book.position <= 0 or book.entry_price is None:
        return None
    if limits.stop_loss:
        stop = book.entry_price * (1 - limits.stop_loss)
        if candle.low <= stop:
            return Verdict(
                STOP_LOSS,
                CLOSED,
                f"the candle's low {_money(candle.low)} reached the stop-loss {_money(stop)} "
                f"({_pct(limits.stop_loss)} under the entry {_money(book.entry_price)})",
            )
    if limits.take_profit:
        target = book.entry_price * (1 + limits.take_profit)
        if candle.high >= target:
            return Verdict(
                TAKE_PROFIT,
                CLOSED,
                f"the candle's high {_money(candle.high)} reached the take-profit "
                f"{_money(target)} ({_pct(limits.take_profit)} over the entry "
                f"{_money(book.entry_price)})",
            )
    return None


def entry_block(
    limits: Limits, book: Book, now: datetime, backoff_until: datetime | None
) -> Verdict | None:
    if limits.daily_loss and -book.realized_today >= limits.daily_loss:
        return Verdict(
            DAILY_LOSS,
            BLOCKED,
            f"today's realised loss {_money(-book.realized_today)} reached the daily limit "
            f"{_money(limits.daily_loss)}; entries resume on the next UTC day",
        )
    if limits.cooldown_s and book.last_loss_exit is not None:
        until = book.last_loss_exit + timedelta(seconds=limits.cooldown_s)
        if now < until:
            return Verdict(
                COOLDOWN,
                BLOCKED,
                f"a losing trade closed at {book.last_loss_exit.isoformat()}; no entry "
                f"before {until.isoformat()}",
            )
    if backoff_until is not None and now < backoff_until:
        return Verdict(
            EXCHANGE_BACKOFF,
            BLOCKED,
            f"the exchange failed this account's last calls; waiting until "
            f"{backoff_until.isoformat()}",
        )
    return None


def day_start(now: datetime) -> datetime:
    """The start of `now`'s UTC day: the daily loss limit's window."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _money(value: Decimal) -> str:
    return dec_str(value.quantize(Decimal("0.01")))


def _pct(fraction: Decimal) -> str:
    return f"{dec_str((fraction * 100).quantize(Decimal('0.01')))}%"
