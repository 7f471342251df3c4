"""Backtest speed: the engine alone, and CreateBacktest end to end over the candle store.

    .venv/bin/python bench/backtest_speed.py [candles]          # the engine alone
    .venv/bin/python bench/backtest_speed.py --mesh [--via envoy] [--warm-runs 3] [--profile DIR]

The engine alone replays ma_crossover over a seeded random walk (no services); bench/analyze.py
reports it beside the service's numbers, and a test holds it to a floor.

`--mesh` starts its own mesh (MariaDB database botmesh_bench_candles, recreated; Redis DB
`--redis-db`, flushed; exchange_sim, trading_svc with ccxt's throttle on, as against a real
venue) and runs CreateBacktest (ma_crossover, 1-minute BTC-USDT candles), polling GetBacktest
every 10 ms until it succeeds, for 100,000 and 1,000,000 candles on disjoint ranges:

- cold: the first backtest of its range, which trading_svc backfills from the venue (pages
  of 1,000, counted on the sim's side as klines requests);
- warm: the same range again, read from the store (zero venue calls), `--warm-runs` times,
  the two sizes alternating.

For each run: seconds from CreateBacktest to SUCCEEDED, candles/s, venue klines requests,
the progress values GetBacktest showed, and the peak RSS (sampled at each poll, plus VmHWM)
of analysis_svc and trading_svc. Writes bench/results/backtest_speed.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]

from analysis_svc.domain.backtest import BacktestSettings, run_backtest  # noqa: E402
from analysis_svc.domain.strategies import resolve_strategy  # noqa: E402
from analysis_svc.domain.synthetic import random_walk_candles  # noqa: E402

DATABASE = "botmesh_bench_candles"
MINUTE_S = 60
SIZES = (100_000, 1_000_000)


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


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def klines_requests(sim_url: str) -> int:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(f"{sim_url}/admin/stats") as reply:
        stats = await reply.json()
    return int(stats["requests"].get("GET /api/v3/klines", 0))


async def one_backtest(
    target: str, key: str, start_s: int, candles: int, pids: dict[str, int], sim_url: str
) -> dict[str, Any]:
    import grpc
    from botmesh.analysis.v1 import analysis_service_pb2 as api
    from botmesh.analysis.v1 import analysis_service_pb2_grpc as rpc
    from google.protobuf.timestamp_pb2 import Timestamp

    start, end = Timestamp(), Timestamp()
    start.FromSeconds(start_s)
    end.FromSeconds(start_s + candles * MINUTE_S)
    request = api.CreateBacktestRequest(
        strategy=api.StrategySpec(name="ma_crossover"),
        market="BTC-USDT",
        timeframe="1m",
        start_time=start,
        end_time=end,
        initial_balance="10000",
        fee_rate="0.001",
        slippage_bps=5,
    )
    md = (("x-api-key", key),)
    peak = dict.fromkeys(pids, 0)
    progress: list[float] = []
    klines_before = await klines_requests(sim_url)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = rpc.AnalysisServiceStub(channel)
        began = time.perf_counter()
        backtest = (await stub.CreateBacktest(request, metadata=md, timeout=30)).backtest
        while backtest.state == api.BACKTEST_STATE_RUNNING:
            for name, pid in pids.items():
                peak[name] = max(peak[name], status_kib(pid, "VmRSS"))
            await asyncio.sleep(0.01)
            got = await stub.GetBacktest(
                api.GetBacktestRequest(backtest_id=backtest.backtest_id), metadata=md, timeout=30
            )
            backtest = got.backtest
            seen = round(backtest.progress, 3)
            if not progress or progress[-1] != seen:
                progress.append(seen)
        seconds = time.perf_counter() - began
    if backtest.state != api.BACKTEST_STATE_SUCCEEDED:
        raise RuntimeError(f"backtest ended {backtest.state}: {backtest.error}")
    return {
        "candles": candles,
        "seconds": round(seconds, 4),
        "candles_per_s": round(candles / seconds),
        "venue_klines_requests": await klines_requests(sim_url) - klines_before,
        "trades": backtest.metrics.trade_count,
        "progress_seen": progress[:40],
        "peak_rss_mib": {name: round(kib / 1024, 1) for name, kib in peak.items()},
    }


async def run_mesh_bench(args: argparse.Namespace) -> dict[str, Any]:
    from bench.world import bench_env, bench_key, drop_database, fresh_database
    from cli.launcher import Mesh, mesh_env

    admin = fresh_database(DATABASE)
    state = Path(tempfile.mkdtemp(prefix="botmesh-bench-candles-"))
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    os.environ.update(bench_env(state, DATABASE, redis_url))
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    from mesh.settings import load_settings

    settings = load_settings()
    mesh = Mesh(settings, mesh_env())
    try:
        mesh.up()
        key = await bench_key(settings, "read")
        pids = {n: mesh.processes[n].pid for n in ("analysis_svc", "trading_svc")}
        target = (
            f"127.0.0.1:{settings.envoy_port}" if args.via == "envoy" else settings.analysis.target
        )
        idle = {n: round(status_kib(p, "VmRSS") / 1024, 1) for n, p in pids.items()}
        now_s = int(time.time()) // MINUTE_S * MINUTE_S - 2 * MINUTE_S
        # Disjoint ranges, so each size's first run is cold: the newest 100k, the 1M before.
        starts = {SIZES[0]: now_s - SIZES[0] * MINUTE_S}
        starts[SIZES[1]] = starts[SIZES[0]] - SIZES[1] * MINUTE_S
        sim = settings.exchange_sim_url
        runs: list[dict[str, Any]] = []
        for size in SIZES:
            cold = await one_backtest(target, key, starts[size], size, pids, sim)
            runs.append({"phase": "cold", **cold})
            print(json.dumps(runs[-1]), flush=True)
        profilers = start_profilers(pids, args.profile)
        for _ in range(args.warm_runs):
            for size in SIZES:
                warm = await one_backtest(target, key, starts[size], size, pids, sim)
                runs.append({"phase": "warm", **warm})
                print(json.dumps(runs[-1]), flush=True)
        stop_profilers(profilers)
        hwm = {n: round(status_kib(p, "VmHWM") / 1024, 1) for n, p in pids.items()}
    finally:
        mesh.stop()
        drop_database(admin, DATABASE)
    return {"via": args.via, "idle_rss_mib": idle, "vm_hwm_mib": hwm, "runs": runs}


def start_profilers(pids: dict[str, int], folder: str) -> list[subprocess.Popen[bytes]]:
    """py-spy (if installed) sampling each service during the warm runs, as collapsed
    stacks in `folder`/<service>.txt."""
    spy = Path(sys.executable).with_name("py-spy")
    if not folder or not spy.exists():
        return []
    Path(folder).mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [
                str(spy),
                "record",
                "--format",
                "raw",
                "-r",
                "250",
                "-p",
                str(pid),
                "-o",
                str(Path(folder) / f"{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    ]


def stop_profilers(profilers: list[subprocess.Popen[bytes]]) -> None:
    for proc in profilers:
        proc.send_signal(signal.SIGINT)  # py-spy writes its samples on SIGINT
    for proc in profilers:
        proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candles", nargs="?", type=int, default=100_000)
    parser.add_argument("--mesh", action="store_true", help="CreateBacktest end to end")
    parser.add_argument("--via", choices=("grpc", "envoy"), default="grpc")
    parser.add_argument("--warm-runs", type=int, default=3)
    parser.add_argument("--redis-db", type=int, default=5)
    parser.add_argument("--profile", default="", help="folder for py-spy samples (warm runs)")
    args = parser.parse_args()
    if not args.mesh:
        r = measure_backtest_speed(args.candles)
        print(
            f"{r.candles} candles in {r.best_seconds * 1000:.2f} ms "
            f"({r.candles_per_second:,.0f} candles/s, {r.trades} trades)"
        )
        return 0
    report = {
        "load_before": os.getloadavg(),
        **asyncio.run(run_mesh_bench(args)),
        "load_after": os.getloadavg(),
    }
    engine = measure_backtest_speed(1_000_000, repeats=3)
    report["engine_alone_1m"] = {"seconds": engine.best_seconds, "trades": engine.trades}
    out = ROOT / "bench" / "results" / "backtest_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
