"""Script-friendly speed check of the backtest engine (bench/ can call this).

python -m analysis_svc.domain.backtest_speed [candles]
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from analysis_svc.domain.backtest import BacktestSettings, run_backtest
from analysis_svc.domain.strategies import resolve_strategy
from analysis_svc.domain.synthetic import random_walk_candles


@dataclass(frozen=True, slots=True)
class SpeedResult:
    candles: int
    best_seconds: float
    candles_per_second: float
    trades: int


def measure_backtest_speed(
    n_candles: int = 100_000, *, repeats: int = 5, strategy: str = "ma_crossover", seed: int = 0
) -> SpeedResult:
    """Best-of-`repeats` wall time of one backtest over a seeded random walk."""
    candles = random_walk_candles(n_candles, seed=seed)
    bound = resolve_strategy(strategy)
    settings = BacktestSettings(initial_balance=10_000.0, fee_rate=0.001, slippage_bps=5)
    result = run_backtest(candles, bound, settings)  # warm-up (imports, caches)
    best = float("inf")
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        result = run_backtest(candles, bound, settings)
        best = min(best, time.perf_counter() - started)
    return SpeedResult(n_candles, best, n_candles / best, len(result.trades))


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    r = measure_backtest_speed(n)
    print(
        f"{r.candles} candles in {r.best_seconds * 1000:.2f} ms "
        f"({r.candles_per_second:,.0f} candles/s, {r.trades} trades)"
    )
