"""The seeded price model: reproducible, internally consistent, bounded, and controllable."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from exchange_sim import candles
from exchange_sim.clock import SimClock
from exchange_sim.config import DEFAULT_MARKETS
from exchange_sim.market import MarketState

BTC = DEFAULT_MARKETS[0]
MINUTE = 60_000
HOUR = 3_600_000
T0 = 1_750_000_000_000  # a fixed instant in 2025 (history)


def market(seed: int = 1, spec=BTC) -> MarketState:  # type: ignore[no-untyped-def]
    return MarketState(spec, seed, anchor_ms=1_704_067_200_000)


def test_same_seed_gives_identical_history_regardless_of_query_order() -> None:
    a, b = market(7), market(7)
    b.klines("1h", T0 - 100 * HOUR, None, 50, T0)  # warm b's caches differently
    first = a.klines("1m", T0, None, 120, T0 + 3 * HOUR)
    second = b.klines("1m", T0, None, 120, T0 + 3 * HOUR)
    assert first == second
    assert a.price_at(T0 + 12_345) == b.price_at(T0 + 12_345)


def test_different_seeds_and_symbols_give_different_paths() -> None:
    base = market(7).price_at(T0)
    assert market(8).price_at(T0) != base
    eth = market(7, DEFAULT_MARKETS[1])
    btc_ret = market(7).price_at(T0 + HOUR) / base
    eth_ret = eth.price_at(T0 + HOUR) / eth.price_at(T0)
    assert btc_ret != pytest.approx(eth_ret, rel=1e-9)


def test_candles_are_consistent_and_contiguous() -> None:
    bars = market(3).klines("1m", T0, None, 300, T0 + 10 * HOUR)
    assert len(bars) == 300
    for prev, bar in itertools.pairwise(bars):
        assert bar.open_ms == prev.open_ms + 60_000
        assert bar.open == pytest.approx(prev.close, rel=1e-12)
    for bar in bars:
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.volume > 0


def test_hourly_candle_aggregates_its_minute_candles() -> None:
    m = market(3)
    hour = m.klines("1h", T0 - T0 % HOUR, None, 1, T0 + 5 * HOUR)[0]
    minutes = m.klines("1m", hour.open_ms, hour.close_ms, 60, T0 + 5 * HOUR)
    assert len(minutes) == 60
    assert hour.open == pytest.approx(minutes[0].open)
    assert hour.close == pytest.approx(minutes[-1].close)
    assert hour.high == pytest.approx(max(b.high for b in minutes))
    assert hour.low == pytest.approx(min(b.low for b in minutes))
    assert hour.volume == pytest.approx(sum(b.volume for b in minutes))


def test_mean_reversion_keeps_a_year_of_daily_closes_near_the_reference() -> None:
    days = market(99).klines("1d", T0, None, 365, T0 + 366 * 24 * HOUR)
    ref = float(BTC.ref_price)
    assert all(0.5 * ref < bar.close < 1.5 * ref for bar in days)
    assert len({round(bar.close) for bar in days}) > 300  # it does move


def test_live_candle_ends_at_now_and_never_in_the_future() -> None:
    minute_start = T0 - T0 % 60_000
    now = minute_start + 30_000  # half-way through a minute
    bars = market(1).klines("1m", None, None, 3, now)
    assert [b.open_ms for b in bars] == [
        minute_start - 120_000,
        minute_start - 60_000,
        minute_start,
    ]
    assert bars[-1].close == pytest.approx(market(1).price_at(now))
    assert market(1).klines("1m", now + HOUR, None, 10, now) == []


def test_hold_override_pins_the_price_and_release_returns_to_the_path() -> None:
    m = market(4)
    raw_later = m.price_at(T0 + 2 * HOUR)
    m.set_price(T0, Decimal("12345.67"), hold=True)
    assert m.price_at(T0 + HOUR) == pytest.approx(12345.67)
    assert m.mid(T0 + HOUR) == Decimal("12345.67")
    hour = m.klines("1h", T0 - T0 % HOUR + HOUR, None, 1, T0 + 3 * HOUR)[0]
    assert hour.high == pytest.approx(12345.67) and hour.low == pytest.approx(12345.67)
    m.release(T0 + HOUR)
    assert m.price_at(T0 + 2 * HOUR) == pytest.approx(raw_later)
    assert m.price_at(T0 - HOUR) == market(4).price_at(T0 - HOUR)  # history untouched


def test_shift_override_continues_randomly_from_the_forced_price() -> None:
    m = market(4)
    m.set_price(T0, Decimal("50000"), hold=False)
    assert m.price_at(T0) == pytest.approx(50000)
    later = m.price_at(T0 + HOUR)
    assert later != pytest.approx(50000, abs=1e-6)
    assert later / 50000 == pytest.approx(market(4).price_at(T0 + HOUR) / market(4).price_at(T0))


def test_trend_override_moves_every_candle_the_same_way_by_the_drift() -> None:
    m = market(4)
    start = T0 - T0 % MINUTE
    m.set_price(start, Decimal("1000"), hold=True, drift_per_minute=-0.01)
    assert m.price_at(start + 2 * MINUTE) == pytest.approx(1000 * 0.99**2)
    bars = m.klines("1m", start, None, 5, start + 6 * MINUTE)
    closes = [bar.close for bar in bars]
    assert closes == sorted(closes, reverse=True) and len(set(closes)) == 5
    for bar in bars:  # no noise of the seeded path inside a trending candle
        assert bar.close / bar.open == pytest.approx(0.99)
        assert (bar.high, bar.low) == (pytest.approx(bar.open), pytest.approx(bar.close))


def test_speed_factor_runs_the_sim_clock_faster_without_jumps() -> None:
    wall = [1000.0]
    clock = SimClock(speed=60.0, start_ms=0, wall=lambda: wall[0])
    wall[0] += 1.0
    assert clock.sim_ms() == pytest.approx(60_000)
    assert clock.wall_ms() == 1_001_000
    clock.set_speed(1.0)
    assert clock.sim_ms() == pytest.approx(60_000)
    wall[0] += 1.0
    assert clock.sim_ms() == pytest.approx(61_000)


@pytest.mark.parametrize(
    ("interval", "t", "expected"),
    [
        ("1m", 1_700_000_059_999, 1_700_000_040_000),
        ("1h", 1_700_003_599_000, 1_700_002_800_000),  # 23:00
        ("1w", 1_700_000_000_000, 1_699_833_600_000),  # Monday 2023-11-13
        ("1M", 1_700_000_000_000, 1_698_796_800_000),  # 2023-11-01
    ],
)
def test_candle_alignment_follows_binance(interval: str, t: int, expected: int) -> None:
    assert candles.align_down(interval, t) == expected


def test_klines_window_semantics() -> None:
    minute = 60_000
    now = 100 * minute + 5
    assert candles.open_times("1m", None, None, 3, now) == [98 * minute, 99 * minute, 100 * minute]
    assert candles.open_times("1m", 10 * minute + 1, None, 2, now) == [11 * minute, 12 * minute]
    assert candles.open_times("1m", None, 50 * minute, 2, now) == [49 * minute, 50 * minute]
    assert candles.open_times("1m", 10 * minute, 12 * minute, 100, now) == [
        10 * minute,
        11 * minute,
        12 * minute,
    ]


@pytest.mark.parametrize("interval", ["1m", "5m", "1h", "4h", "1d"])
def test_a_page_of_candles_is_the_candles_one_at_a_time(interval: str) -> None:
    """klines computes a page's closed candles at once; each is the candle `bar` gives, the
    forming one included, with a price override in the page."""
    m = market(5)
    now = T0 + 7 * HOUR + 1234
    m.set_price(T0 + 2 * HOUR, Decimal("50000"), hold=False)
    for start in (T0 - 1_000 * HOUR, T0 + HOUR, None):
        page = m.klines(interval, start, None, 1000, now)
        assert page == [m.bar(b.open_ms, b.close_ms, now) for b in page]
        assert all(b.open_ms <= now for b in page)


def test_a_million_minutes_of_history_are_served_in_pages() -> None:
    m = market(2)
    now = T0 // 60_000 * 60_000
    start = now - 1_000_000 * 60_000
    first = m.klines("1m", start, None, 1000, now)
    assert len(first) == 1000 and first[0].open_ms == start
    last = m.klines("1m", now - 1000 * 60_000, None, 1000, now)
    assert last[-1].open_ms == now - 60_000  # the newest closed: 1,000,000 minutes in all
    assert all(b.low <= min(b.open, b.close) <= max(b.open, b.close) <= b.high for b in first)
