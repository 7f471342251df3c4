"""Live state of one market: seeded path + admin price overrides -> prices, candles, stats.

Admin overrides exist because tests must be able to force a resting limit order to cross.  An
override either *holds* the price at a value (deterministic, for tests), *trends* from a value
at a fixed rate per sim minute (deterministic: every candle closes above or below the one
before however late the test's next command comes), or *shifts* the path so that it continues
randomly from the given value (for demos/benchmarks); a later "release" returns to the raw
path.  Overrides are time-stamped so history before them stays unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import IntEnum

import numpy as np

from exchange_sim import candles
from exchange_sim.config import MarketSpec
from exchange_sim.pricepath import MINUTE_MS, FloatArray, PricePath


class OverrideMode(IntEnum):
    """How an admin override changes the price from its time on."""

    RELEASE = 0
    HOLD = 1
    SHIFT = 2
    TREND = 3


Summary = tuple[float, float, float, float, float]  # log o, h, l, c and volume


@dataclass(frozen=True)
class Override:
    """From ``t_ms`` on: hold at ``log_value`` (moving ``log_rate_per_ms`` from it when
    trending), or add ``log_value`` to the path, or release."""

    t_ms: float
    mode: OverrideMode
    log_value: float
    log_rate_per_ms: float = 0.0


@dataclass(frozen=True)
class Bar:
    """One OHLCV candle in float prices (formatted to the tick by the view layer)."""

    open_ms: int
    close_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    quote_volume: float
    trades: int


class MarketState:
    """Prices of one market at any sim time, honouring admin overrides."""

    def __init__(self, spec: MarketSpec, seed: int, anchor_ms: int) -> None:
        self.spec = spec
        self.ref = float(spec.ref_price)
        self.path = PricePath(
            seed,
            spec.symbol,
            vol_per_minute=spec.vol_per_minute,
            volume_per_minute=spec.volume_per_minute,
            anchor_ms=anchor_ms,
        )
        self.overrides: list[Override] = []
        self.maker_liquidity: Decimal | None = None
        self._day_cache: dict[int, Summary] = {}

    # -- overrides ---------------------------------------------------------------------------
    def set_price(
        self, t_ms: float, price: Decimal, hold: bool, drift_per_minute: float = 0.0
    ) -> None:
        """Force the price to ``price`` at ``t_ms``: held flat, trending by
        ``drift_per_minute`` (a fraction per sim minute, compounded), or continuing randomly
        (``hold`` false)."""
        target = math.log(float(price) / self.ref)
        if drift_per_minute:
            rate = math.log1p(drift_per_minute) / MINUTE_MS
            self.overrides.append(Override(t_ms, OverrideMode.TREND, target, rate))
        elif hold:
            self.overrides.append(Override(t_ms, OverrideMode.HOLD, target))
        else:
            raw = self.path.log_at(t_ms)
            self.overrides.append(Override(t_ms, OverrideMode.SHIFT, target - raw))

    def release(self, t_ms: float) -> None:
        """Return to the raw seeded path from ``t_ms`` on."""
        if self.overrides and self.overrides[-1].mode != OverrideMode.RELEASE:
            self.overrides.append(Override(t_ms, OverrideMode.RELEASE, 0.0))

    def _adjust(self, logs: FloatArray, times_ms: FloatArray) -> FloatArray:
        if not self.overrides or times_ms[-1] < self.overrides[0].t_ms:
            return logs
        starts = np.array([o.t_ms for o in self.overrides])
        modes = np.array([int(o.mode) for o in self.overrides] + [int(OverrideMode.RELEASE)])
        values = np.array([o.log_value for o in self.overrides] + [0.0])
        rates = np.array([o.log_rate_per_ms for o in self.overrides] + [0.0])
        idx = np.searchsorted(starts, times_ms, side="right") - 1  # -1 -> sentinel (release)
        mode, value = modes[idx], values[idx]
        since = times_ms - np.append(starts, 0.0)[idx]
        value = np.where(mode == OverrideMode.TREND, value + rates[idx] * since, value)
        held = np.where((mode == OverrideMode.HOLD) | (mode == OverrideMode.TREND), value, logs)
        return np.where(mode == OverrideMode.SHIFT, logs + value, held)

    def _log_at(self, t_ms: float) -> float:
        logs = np.array([self.path.log_at(t_ms)])
        return float(self._adjust(logs, np.array([t_ms]))[0])

    # -- prices ------------------------------------------------------------------------------
    def price_at(self, t_ms: float) -> float:
        """Mid price at sim time ``t_ms``."""
        return self.ref * math.exp(self._log_at(t_ms))

    def mid(self, t_ms: float) -> Decimal:
        """Mid price rounded to the market's tick, as Binance would show it."""
        tick = self.spec.tick_size
        return (Decimal(repr(self.price_at(t_ms))) / tick).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        ) * tick

    # -- candles -----------------------------------------------------------------------------
    def _minutes(self, m0: int, m1: int) -> tuple[FloatArray, ...]:
        """(open, high, low, close, volume) log arrays for complete minutes [m0, m1)."""
        parts: list[tuple[FloatArray, ...]] = []
        m = m0
        while m < m1:
            day, idx = self.path.locate(m)
            take = min(m1 - m, 1440 - idx)
            d = self.path.day(day)
            sl = slice(idx, idx + take)
            parts.append((d.open[sl], d.high[sl], d.low[sl], d.close[sl], d.volume[sl]))
            m += take
        opens, highs, lows, closes, vols = (
            np.concatenate(cols) for cols in zip(*parts, strict=True)
        )
        starts = np.arange(m0, m1, dtype=np.float64) * MINUTE_MS
        o = self._adjust(opens, starts)
        c = self._adjust(closes, starts + MINUTE_MS)
        h = np.maximum(self._adjust(highs, starts), np.maximum(o, c))
        lo = np.minimum(self._adjust(lows, starts), np.minimum(o, c))
        return o, h, lo, c, vols

    def _summary(self, m0: int, m1: int) -> Summary:
        o, h, lo, c, v = self._minutes(m0, m1)
        return float(o[0]), float(h.max()), float(lo.min()), float(c[-1]), float(v.sum())

    def _day_summary(self, day: int, first_minute: int) -> Summary:
        """OHLCV of a whole UTC day, cached unless an admin override reaches into it."""
        end_ms = (first_minute + 1440) * MINUTE_MS
        cacheable = not self.overrides or end_ms < self.overrides[0].t_ms
        cached = self._day_cache.get(day) if cacheable else None
        if cached is None:
            cached = self._summary(first_minute, first_minute + 1440)
            if cacheable:
                self._day_cache[day] = cached
        return cached

    def _summaries(self, m0: int, m1: int) -> list[Summary]:
        """Summaries covering complete minutes [m0, m1): whole days come from the cache."""
        out: list[Summary] = []
        m = m0
        while m < m1:
            day, idx = self.path.locate(m)
            if idx == 0 and m1 - m >= 1440:
                out.append(self._day_summary(day, m))
                m += 1440
                continue
            take = min(m1 - m, 1440 - idx)
            out.append(self._summary(m, m + take))
            m += take
        return out

    def _partial_minute(self, minute: int, end_ms: float) -> Summary:
        day, idx = self.path.locate(minute)
        d = self.path.day(day)
        frac = (end_ms - minute * MINUTE_MS) / MINUTE_MS
        o = self._log_at(minute * MINUTE_MS)
        c = self._log_at(end_ms)
        up = (d.high[idx] - max(d.open[idx], d.close[idx])) * frac
        down = (min(d.open[idx], d.close[idx]) - d.low[idx]) * frac
        return o, max(o, c) + up, min(o, c) - down, c, float(d.volume[idx]) * frac

    def bar(self, open_ms: int, close_ms: int, now_ms: float) -> Bar:
        """Candle over [open_ms, close_ms], truncated at ``now_ms`` for the live candle."""
        end = min(float(close_ms + 1), now_ms)
        if close_ms + 1 - open_ms < MINUTE_MS:  # 1s candles: interpolate within the minute
            o, c = self._log_at(open_ms), self._log_at(max(end, open_ms))
            vol = self.spec.volume_per_minute * max(end - open_ms, 0.0) / MINUTE_MS
            return self._make_bar(open_ms, close_ms, (o, max(o, c), min(o, c), c, vol))
        m0 = open_ms // MINUTE_MS
        m_full = max(math.floor(end / MINUTE_MS), m0)
        cols = self._summaries(m0, m_full)
        if end > m_full * MINUTE_MS and m_full * MINUTE_MS <= close_ms:
            cols.append(self._partial_minute(m_full, end))
        if not cols:
            flat = self._log_at(open_ms)
            cols.append((flat, flat, flat, flat, 0.0))
        merged = (
            cols[0][0],
            max(col[1] for col in cols),
            min(col[2] for col in cols),
            cols[-1][3],
            sum(col[4] for col in cols),
        )
        return self._make_bar(open_ms, close_ms, merged)

    def _make_bar(self, open_ms: int, close_ms: int, logs: Summary) -> Bar:
        o, h, lo, c = (self.ref * math.exp(x) for x in logs[:4])
        volume = logs[4]
        return Bar(
            open_ms=open_ms,
            close_ms=close_ms,
            open=o,
            high=h,
            low=lo,
            close=c,
            volume=volume,
            quote_volume=volume * (o + c) / 2,
            trades=int(volume * 37),
        )

    def klines(
        self,
        interval: str,
        start_ms: int | None,
        end_ms: int | None,
        limit: int,
        now_ms: float,
    ) -> list[Bar]:
        """Binance klines semantics over the (possibly overridden) path.

        Closed candles of whole-minute intervals shorter than a day are computed for the
        page at once (the minutes of all of them, reduced per candle), the same arithmetic
        as `bar` one candle at a time: a page of a thousand 1-minute candles costs one
        slice of the path, so years of history can be paged through.
        """
        opens = candles.open_times(interval, start_ms, end_ms, limit, int(now_ms))
        step = candles.INTERVAL_MS.get(interval, 0)
        per = step // MINUTE_MS
        closed = sum(1 for t in opens if t + step <= now_ms) if step else 0
        if not (per and step % MINUTE_MS == 0 and per < 1440 and closed):
            return [self.bar(t, candles.next_open(interval, t) - 1, now_ms) for t in opens]
        first = opens[0] // MINUTE_MS
        o, h, lo, c, v = (
            col.reshape(closed, per) for col in self._minutes(first, first + closed * per)
        )
        merged = zip(
            o[:, 0].tolist(),
            h.max(axis=1).tolist(),
            lo.min(axis=1).tolist(),
            c[:, -1].tolist(),
            v.sum(axis=1).tolist(),
            strict=True,
        )
        bars = [
            self._make_bar(t, t + step - 1, logs)
            for t, logs in zip(opens[:closed], merged, strict=True)
        ]
        return bars + [self.bar(t, t + step - 1, now_ms) for t in opens[closed:]]

    def rolling_24h(self, now_ms: float) -> Bar:
        """Rolling 24 h statistics for tickers."""
        start = int(now_ms) - 86_400_000
        return self.bar(start, int(now_ms), now_ms)
