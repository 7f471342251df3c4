"""The risk rules as pure specifications (trading_svc/runtime/risk.py).

- The kill switch fires when equity is `max_drawdown` or more below its peak (at the limit
  included), pausing the bot; under the limit, or with no limit, it stays quiet.
- Holding a position, the stop-loss fires when the candle's low reaches entry x (1 - sl) and
  the take-profit when its high reaches entry x (1 + tp); a candle that reaches both is read
  as the stop-loss. Flat, nothing exits.
- Entries are blocked by today's realised loss at the daily limit, by a losing trade closed
  within the cooldown, and by a running exchange backoff, in that order.
- A limit left unset turns its rule off.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from trading_svc.runtime import risk
from trading_svc.runtime.risk import Book, Candle
from trading_svc.runtime.terms import Limits

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
NO_LIMITS = Limits()


def book(
    *,
    position: str = "0",
    entry: str | None = None,
    equity: str = "1000",
    peak: str = "1000",
    realized_today: str = "0",
    last_loss_exit: datetime | None = None,
) -> Book:
    return Book(
        position=D(position),
        entry_price=D(entry) if entry is not None else None,
        equity=D(equity),
        peak_equity=D(peak),
        realized_today=D(realized_today),
        last_loss_exit=last_loss_exit,
    )


def candle(low: str, high: str, close: str = "100") -> Candle:
    return Candle(open_time=NOW, open=D("100"), high=D(high), low=D(low), close=D(close))


HOLDING = {"position": "0.5", "entry": "100"}


# -- the kill switch -----------------------------------------------------------------------


def test_the_kill_switch_fires_at_the_drawdown_limit_and_pauses_the_bot() -> None:
    verdict = risk.kill_switch(Limits(max_drawdown=D("0.2")), book(equity="800", peak="1000"))
    assert verdict is not None
    assert (verdict.rule, verdict.outcome) == (risk.MAX_DRAWDOWN, risk.PAUSED)
    assert verdict.message == "equity 800 is 20% below its peak 1000 (limit 20%)"


def test_the_kill_switch_fires_beyond_the_limit() -> None:
    verdict = risk.kill_switch(Limits(max_drawdown=D("0.2")), book(equity="500", peak="1000"))
    assert verdict is not None and verdict.rule == risk.MAX_DRAWDOWN


def test_the_kill_switch_stays_quiet_under_the_limit() -> None:
    limits = Limits(max_drawdown=D("0.2"))
    assert risk.kill_switch(limits, book(equity="800.01", peak="1000")) is None
    assert risk.kill_switch(limits, book(equity="1000", peak="1000")) is None


def test_the_kill_switch_is_off_without_a_limit_or_a_peak() -> None:
    assert risk.kill_switch(NO_LIMITS, book(equity="1", peak="1000")) is None
    assert risk.kill_switch(Limits(max_drawdown=D("0.2")), book(equity="0", peak="0")) is None


# -- stop-loss and take-profit ---------------------------------------------------------------


def test_the_stop_loss_closes_when_the_candles_low_reaches_it() -> None:
    limits = Limits(stop_loss=D("0.05"))
    verdict = risk.exit_on(limits, book(**HOLDING), candle(low="95", high="101"))
    assert verdict is not None
    assert (verdict.rule, verdict.outcome) == (risk.STOP_LOSS, risk.CLOSED)
    assert (
        verdict.message == "the candle's low 95 reached the stop-loss 95 (5% under the entry 100)"
    )


def test_the_stop_loss_holds_while_the_low_stays_above_it() -> None:
    limits = Limits(stop_loss=D("0.05"))
    assert risk.exit_on(limits, book(**HOLDING), candle(low="95.01", high="101")) is None


def test_the_take_profit_closes_when_the_candles_high_reaches_it() -> None:
    limits = Limits(take_profit=D("0.1"))
    verdict = risk.exit_on(limits, book(**HOLDING), candle(low="99", high="110"))
    assert verdict is not None
    assert (verdict.rule, verdict.outcome) == (risk.TAKE_PROFIT, risk.CLOSED)
    assert "high 110 reached the take-profit 110 (10% over the entry 100)" in verdict.message


def test_the_take_profit_holds_while_the_high_stays_under_it() -> None:
    limits = Limits(take_profit=D("0.1"))
    assert risk.exit_on(limits, book(**HOLDING), candle(low="99", high="109.99")) is None


def test_a_candle_reaching_both_is_read_as_the_stop_loss() -> None:
    limits = Limits(stop_loss=D("0.05"), take_profit=D("0.1"))
    verdict = risk.exit_on(limits, book(**HOLDING), candle(low="90", high="120"))
    assert verdict is not None and verdict.rule == risk.STOP_LOSS


def test_a_flat_bot_has_nothing_to_exit() -> None:
    limits = Limits(stop_loss=D("0.05"), take_profit=D("0.1"))
    assert risk.exit_on(limits, book(), candle(low="1", high="1000")) is None
    no_entry = book(position="0.5", entry=None)
    assert risk.exit_on(limits, no_entry, candle(low="1", high="1000")) is None


def test_exits_are_off_without_their_limits() -> None:
    assert risk.exit_on(NO_LIMITS, book(**HOLDING), candle(low="1", high="1000")) is None
    only_tp = Limits(take_profit=D("0.1"))
    assert risk.exit_on(only_tp, book(**HOLDING), candle(low="1", high="100")) is None


# -- entry blocks ------------------------------------------------------------------------


def test_the_daily_loss_limit_blocks_entries_once_reached() -> None:
    limits = Limits(daily_loss=D("50"))
    verdict = risk.entry_block(limits, book(realized_today="-50"), NOW, None)
    assert verdict is not None
    assert (verdict.rule, verdict.outcome) == (risk.DAILY_LOSS, risk.BLOCKED)
    assert verdict.message == (
        "today's realised loss 50 reached the daily limit 50; entries resume on the next UTC day"
    )


@pytest.mark.parametrize("realized", ["-49.99", "0", "120"])
def test_the_daily_loss_limit_lets_entries_through_under_it(realized: str) -> None:
    limits = Limits(daily_loss=D("50"))
    assert risk.entry_block(limits, book(realized_today=realized), NOW, None) is None


def test_a_cooldown_blocks_entries_after_a_losing_trade() -> None:
    limits = Limits(cooldown_s=600)
    lost = NOW - timedelta(seconds=599)
    verdict = risk.entry_block(limits, book(last_loss_exit=lost), NOW, None)
    assert verdict is not None
    assert (verdict.rule, verdict.outcome) == (risk.COOLDOWN, risk.BLOCKED)
    assert (lost + timedelta(seconds=600)).isoformat() in verdict.message


def test_the_cooldown_ends_when_its_time_is_up() -> None:
    limits = Limits(cooldown_s=600)
    lost = NOW - timedelta(seconds=600)
    assert risk.entry_block(limits, book(last_loss_exit=lost), NOW, None) is None


def test_an_exchange_backoff_blocks_entries_while_it_runs() -> None:
    verdict = risk.entry_block(NO_LIMITS, book(), NOW, NOW + timedelta(seconds=4))
    assert verdict is not None
    assert (verdict.rule, verdict.outcome) == (risk.EXCHANGE_BACKOFF, risk.BLOCKED)
    assert risk.entry_block(NO_LIMITS, book(), NOW, NOW) is None
    assert risk.entry_block(NO_LIMITS, book(), NOW, NOW - timedelta(seconds=1)) is None


def test_the_daily_loss_is_named_before_the_cooldown_and_the_backoff() -> None:
    limits = Limits(daily_loss=D("50"), cooldown_s=600)
    every = book(realized_today="-80", last_loss_exit=NOW)
    verdict = risk.entry_block(limits, every, NOW, NOW + timedelta(minutes=1))
    assert verdict is not None and verdict.rule == risk.DAILY_LOSS
    cooling = book(last_loss_exit=NOW)
    verdict = risk.entry_block(limits, cooling, NOW, NOW + timedelta(minutes=1))
    assert verdict is not None and verdict.rule == risk.COOLDOWN


def test_entry_blocks_are_off_without_their_limits() -> None:
    hurt = book(realized_today="-900", last_loss_exit=NOW)
    assert risk.entry_block(NO_LIMITS, hurt, NOW, None) is None


def test_the_daily_window_starts_at_utc_midnight() -> None:
    assert risk.day_start(NOW) == datetime(2026, 11, 20, tzinfo=UTC)
