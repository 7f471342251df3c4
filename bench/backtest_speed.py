"""Speed check of the backtest engine alone: no services, a seeded random walk. bench/analyze.py
reports it beside the service's numbers, and a test holds it to a floor.

    .venv/bin/python bench/backtest_speed.py [candles]    # or: python -m bench.backtest_speed
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from analysis_svc.domain.backtest import BacktestSettings, run_backtest  # noqa: E402
from analysis_svc.domain.strategies import resolve_strategy  # noqa: E402
from analysis_svc.domain.synthetic import random_walk_candles  # noqa: E402


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
