"""StreamPrices fan-out: N concurrent streams on ONE trading_svc process, one market ticking
once a second. Reports delivery lag p50/p99 (receive time minus the ticker's time), server
RSS per stream and the server's CPU.

    .venv/bin/python bench/streams.py --streams 10000 --workers 4 --duration 20

Starts its own mesh on free ports (MariaDB database botmesh_bench_streams, Redis DB 11) and an
exchange_sim process as the venue. The load generator runs in `--workers` processes, each
multiplexing its streams over a few gRPC channels straight to trading_svc.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]


from bench.getbot import cpu_seconds, percentiles_us  # noqa: E402
from bench.world import bench_env, bench_key, drop_database, fresh_database  # noqa: E402
from cli.launcher import Mesh, mesh_env, service_address  # noqa: E402

DATABASE = "botmesh_bench_streams"
STREAMS_PER_CHANNEL = 100
SAMPLE = 10  # one stream in SAMPLE measures lag


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def worker(
    ramp_per_s: float,
    target: str,
    key: str,
    market: str,
    streams: int,
    warmup: float,
    duration: float,
    out: mp.Queue,
) -> None:  # type: ignore[type-arg]
    import grpc
    from botmesh.trading.v1 import market_data_service_pb2 as api

    async def run() -> list[float]:
        lags: list[float] = []
        errors: dict[str, int] = {}
        connected = 0
        start = time.time()
        channels = [
            grpc.aio.insecure_channel(target) for _ in range(max(1, streams // STREAMS_PER_CHANNEL))
        ]

        method = "/botmesh.trading.v1.MarketDataService/StreamPrices"
        request = api.StreamPricesRequest(market=market).SerializeToString()

        async def one(i: int) -> None:
            """Every SAMPLE-th stream parses its messages to measure lag; the others take raw
            bytes, so the load generator's own CPU does not limit how many streams it holds."""
            nonlocal connected
            # Dashboards arrive over time, not in one instant: a burst of thousands of new
            # streams overflows grpc's queue of calls not yet picked up, which cancels them.
            await asyncio.sleep(i / ramp_per_s)
            sampled = i % SAMPLE == 0
            call = channels[i % len(channels)].unary_stream(
                method,
                request_serializer=lambda raw: raw,
                response_deserializer=api.StreamPricesResponse.FromString if sampled else None,
            )(request, metadata=(("x-api-key", key),))
            counted = False
            try:
                async for item in call:
                    if not counted:
                        connected += 1
                        counted = True
                    now = time.time()
                    if sampled and item.HasField("ticker") and now - start > warmup:
                        lags.append((now - item.ticker.time.ToNanoseconds() / 1e9) * 1e6)
                    if now - start > warmup + duration:
                        call.cancel()
                        return
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.CANCELLED:
                    errors[exc.code().name] = errors.get(exc.code().name, 0) + 1

        tasks = [asyncio.create_task(one(i)) for i in range(streams)]
        await asyncio.wait(tasks, timeout=warmup + duration + 30)
        for channel in channels:
            await channel.close()
        out.put(("connected", connected))
        out.put(("errors", errors))
        return lags

    lags = asyncio.run(run())
    out.put(("lags", lags[:: max(1, len(lags) // 20000)]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=15)
    parser.add_argument("--market", default="BTC-USDT")
    parser.add_argument("--ramp", type=float, default=1000, help="new streams per second, in all")
    args = parser.parse_args()

    admin = fresh_database(DATABASE)
    state = Path(tempfile.mkdtemp(prefix="botmesh-streams-"))
    overrides = bench_env(state, DATABASE, "redis://127.0.0.1:6379/11")
    os.environ.update(overrides)
    from mesh.settings import load_settings

    settings = load_settings()
    mesh = Mesh(settings, mesh_env())
    try:
        mesh.ensure_exchange_sim()
        mesh.migrate()
        mesh.start_services()
        key = asyncio.run(bench_key(settings, "read"))
        host, port = service_address(settings, "trading_svc")
        pid = mesh.processes["trading_svc"].pid
        idle_rss = rss_kib(pid)
        spawn = mp.get_context("spawn")  # the parent already used gRPC: no fork
        out: mp.Queue = spawn.Queue()  # type: ignore[type-arg]
        per_worker = args.streams // args.workers
        procs = [
            spawn.Process(
                target=worker,
                args=(
                    args.ramp / args.workers,
                    f"{host}:{port}",
                    key,
                    args.market,
                    per_worker,
                    args.warmup,
                    args.duration,
                    out,
                ),
            )
            for _ in range(args.workers)
        ]
        for proc in procs:
            proc.start()
        time.sleep(args.warmup)
        loaded_rss = rss_kib(pid)
        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        time.sleep(args.duration)
        cpu = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - wall_before)
        lags: list[float] = []
        connected = 0
        errors: dict[str, int] = {}
        for _ in range(3 * len(procs)):
            kind, value = out.get(timeout=120)
            if kind == "lags":
                lags += value
            elif kind == "errors":
                for code, n in value.items():
                    errors[code] = errors.get(code, 0) + n
            else:
                connected += value
        for proc in procs:
            proc.join(timeout=30)
    finally:
        mesh.stop()
        drop_database(admin, DATABASE)
    if not lags:
        print("no ticks received", file=sys.stderr)
        return 1
    p50, p99 = percentiles_us(lags)
    print(
        f"StreamPrices fan-out: {connected} streams on one trading_svc process, {args.market} at 1 tick/s"
    )
    print(f"delivery lag p50 {p50 / 1e3:.1f} ms, p99 {p99 / 1e3:.1f} ms ({len(lags)} samples)")
    print(
        f"server RSS {idle_rss / 1024:.0f} MiB idle -> {loaded_rss / 1024:.0f} MiB: {(loaded_rss - idle_rss) / max(1, connected):.1f} KiB per stream"
    )
    print(f"server CPU {cpu * 100:.0f}% of one core; stream errors: {errors or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
