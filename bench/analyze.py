"""Analyze throughput (cached and uncached, with p99) and backtest speed, against a real
analysis_svc process, exchange_sim, MariaDB and Redis.

    .venv/bin/python bench/analyze.py --duration 10

- cached: one decision asked over and over (every bot on a market at a candle close), with
  h2load (HTTP/2, gRPC framing) and with a Python grpc.aio client;
- uncached: every call a different strategy parameter set, so each one fetches nothing but
  computes the strategy, takes the Redis single-flight lock, records the decision in MariaDB
  and stores it (Python grpc.aio client: h2load cannot vary its body);
- backtest: the engine alone (ma_crossover over 100,000 one-minute candles, best of 5), and
  end to end (CreateBacktest, candles fetched from exchange_sim page by page, poll to done).

Starts its own processes on free ports (database botmesh_bench_analysis, recreated; Redis DB
12, flushed) and stops them by pid. The load generator shares the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]

import grpc  # noqa: E402
from botmesh.analysis.v1 import analysis_service_pb2 as api  # noqa: E402
from botmesh.analysis.v1 import analysis_service_pb2_grpc as rpc  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402

from bench.getbot import percentiles_us, run_h2load  # noqa: E402
from bench.world import bench_env, bench_key, drop_database, fresh_database  # noqa: E402
from cli.launcher import mesh_env, port_open  # noqa: E402

DATABASE = "botmesh_bench_analysis"
REDIS_URL = "redis://127.0.0.1:6379/12"
BACKTEST_CANDLES = 100_000
CACHED = api.AnalyzeRequest(
    market="BTC-USDT",
    timeframe="1h",
    strategy=api.StrategySpec(name="ma_crossover", params={"fast": "9", "slow": "21"}),
)


def unique_requests() -> itertools.cycle[api.AnalyzeRequest]:
    """Distinct (fast, slow) pairs: each one is a decision nobody computed yet."""
    pairs = [(f, s) for f in range(2, 120) for s in range(f + 1, 400)]
    return itertools.cycle(
        api.AnalyzeRequest(
            market="BTC-USDT",
            timeframe="1h",
            strategy=api.StrategySpec(name="ma_crossover", params={"fast": str(f), "slow": str(s)}),
        )
        for f, s in pairs
    )


async def grpc_load(
    target: str,
    key: str,
    next_request: Callable[[], api.AnalyzeRequest],
    conns: int,
    duration: float,
) -> dict[str, float]:
    """`conns` workers, each one call at a time, for `duration` seconds."""
    latencies: list[float] = []
    errors = 0
    codes: dict[str, int] = {}
    deadline = time.monotonic() + duration
    channel = grpc.aio.insecure_channel(target)
    stub = rpc.AnalysisServiceStub(channel)
    md = (("x-api-key", key),)

    async def worker() -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            request = next_request()
            started = time.perf_counter()
            try:
                await stub.Analyze(request, metadata=md, timeout=30)
            except grpc.aio.AioRpcError as exc:
                errors += 1
                codes[exc.code().name] = codes.get(exc.code().name, 0) + 1
                continue
            latencies.append((time.perf_counter() - started) * 1e6)

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(conns)))
    elapsed = time.monotonic() - started
    await channel.close()
    p50, p99 = percentiles_us(latencies)
    if codes:
        print(f"errors by code: {codes}", file=sys.stderr)
    return {"rps": len(latencies) / elapsed, "p50_us": p50, "p99_us": p99, "errors": errors}


async def backtest_end_to_end(target: str, key: str) -> dict[str, float]:
    end_s = int(time.time()) // 60 * 60 - 120
    start, end = Timestamp(), Timestamp()
    start.FromSeconds(end_s - BACKTEST_CANDLES * 60)
    end.FromSeconds(end_s)
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
    async with grpc.aio.insecure_channel(target) as channel:
        stub = rpc.AnalysisServiceStub(channel)
        began = time.perf_counter()
        created = await stub.CreateBacktest(request, metadata=md, timeout=30)
        backtest = created.backtest
        while backtest.state == api.BACKTEST_STATE_RUNNING:
            await asyncio.sleep(0.05)
            got = await stub.GetBacktest(
                api.GetBacktestRequest(backtest_id=backtest.backtest_id), metadata=md
            )
            backtest = got.backtest
        seconds = time.perf_counter() - began
    if backtest.state != api.BACKTEST_STATE_SUCCEEDED:
        raise RuntimeError(f"backtest ended {backtest.state}: {backtest.error}")
    return {
        "seconds": seconds,
        "candles_per_s": BACKTEST_CANDLES / seconds,
        "trades": backtest.metrics.trade_count,
    }


def wait_for(ready: object, procs: list[subprocess.Popen[bytes]], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        if ready():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not start")


def healthy(target: str) -> bool:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        with grpc.insecure_channel(target) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1
            )
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()

    admin = fresh_database(DATABASE)
    state = Path(tempfile.mkdtemp(prefix="botmesh-bench-analysis-"))
    overrides = bench_env(state, DATABASE, REDIS_URL)
    overrides |= {
        "BOTMESH_EXCHANGE_VENUE": "sim",
        # Only analysis_svc runs here: it reads candles from the venue, not trading_svc.
        "BOTMESH_ANALYSIS_CANDLES": "venue",
    }
    os.environ.update(overrides)
    sim_port = int(overrides["BOTMESH_EXCHANGE_SIM_URL"].rsplit(":", 1)[1])
    svc_port = int(overrides["BOTMESH_ANALYSIS_PORT"])
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    from mesh.settings import load_settings

    settings = load_settings()
    env = mesh_env()
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "upgrade", "head"],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    log = (state / "processes.log").open("ab")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "exchange_sim", "--port", str(sim_port), "--seed", "3"],
            env=env,
            stdout=log,
            stderr=log,
            cwd=ROOT,
        )
    ]
    target = f"127.0.0.1:{svc_port}"
    results: dict[str, dict[str, float]] = {}
    try:
        wait_for(lambda: port_open("127.0.0.1", sim_port), procs, "exchange_sim")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "analysis_svc"], env=env, stdout=log, stderr=log, cwd=ROOT
            )
        )
        wait_for(lambda: healthy(target), procs, "analysis_svc")
        key = asyncio.run(bench_key(settings, "read"))
        asyncio.run(
            grpc_load(target, key, lambda: CACHED, 1, 0.5)
        )  # warm: candles and the decision

        if shutil.which("h2load"):
            body = state / "analyze.grpc"
            payload = CACHED.SerializeToString()
            body.write_bytes(b"\x00" + struct.pack(">I", len(payload)) + payload)
            url = f"http://{target}/botmesh.analysis.v1.AnalysisService/Analyze"
            results["cached_h2load"] = run_h2load(
                url, body, key, args.connections, int(args.duration)
            )
        results["cached_python"] = asyncio.run(
            grpc_load(target, key, lambda: CACHED, args.connections, args.duration)
        )
        results["uncached_python"] = asyncio.run(
            grpc_load(target, key, unique_requests().__next__, args.connections, args.duration)
        )
        results["backtest_service"] = asyncio.run(backtest_end_to_end(target, key))
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        drop_database(admin, DATABASE)

    from bench.backtest_speed import measure_backtest_speed

    engine = measure_backtest_speed(BACKTEST_CANDLES)
    results["backtest_engine"] = {
        "seconds": engine.best_seconds,
        "candles_per_s": engine.candles_per_second,
        "trades": engine.trades,
    }

    print(f"Analyze, c={args.connections}, {args.duration:g}s each, {os.cpu_count()} cores")
    print(f"{'load':<17} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name in ("cached_h2load", "cached_python", "uncached_python"):
        if name in results:
            r = results[name]
            print(
                f"{name:<17} {r['rps']:>9.0f} {r['p50_us'] / 1e3:>8.2f} "
                f"{r['p99_us'] / 1e3:>8.2f} {r['errors']:>7.0f}"
            )
    for name in ("backtest_engine", "backtest_service"):
        r = results[name]
        print(
            f"{name:<17} {BACKTEST_CANDLES} x 1m ma_crossover: {r['seconds'] * 1e3:,.1f} ms, "
            f"{r['candles_per_s']:,.0f} candles/s, {r['trades']:.0f} trades"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "analyze.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
