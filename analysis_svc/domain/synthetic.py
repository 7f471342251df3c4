"""Seeded synthetic candles for tests and speed measurements (no market data needed)."""

from __future__ import annotations

import numpy as np

from analysis_svc.domain.candles import Candles


def random_walk_candles(
    n: int,
    *,
    seed: int = 0,
    start_price: float = 100.0,
    step_ms: int = 60_000,
    start_ms: int = 1_700_000_000_000,
    volatility: float = 0.002,
) -> Candles:
    """A geometric random walk with plausible OHLC (open = previous close)."""
    rng = np.random.default_rng(seed)
    log_returns = rng.normal(0.0, volatility, n)
    close = start_price * np.exp(np.cumsum(log_returns))
    open_ = np.empty(n)
    open_[0] = start_price
    open_[1:] = close[:-1]
    wick = np.abs(rng.normal(0.0, volatility / 2, (2, n)))
    high = np.maximum(open_, close) * (1.0 + wick[0])
    low = np.minimum(open_, close) * (1.0 - wick[1])
    volume = rng.uniform(1.0, 10.0, n)
    times = start_ms + np.arange(n, dtype=np.int64) * step_ms
    return Candles(times, open_, high, low, close, volume)


def candles_from_closes(
    closes: list[float] | np.ndarray,
    *,
    step_ms: int = 60_000,
    start_ms: int = 1_700_000_000_000,
) -> Candles:
    """Candles whose open is the previous close and whose range spans both: crafted tests."""
    close = np.asarray(closes, dtype=np.float64)
    open_ = np.concatenate([close[:1], close[:-1]])
    high = np.maximum(open_, close)
    low = np.minimum(open_, close)
    times = start_ms + np.arange(close.size, dtype=np.int64) * step_ms
    return Candles(times, open_, high, low, close, np.ones_like(close))
