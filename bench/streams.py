"""StreamPrices fan-out on ONE trading_svc process, one market ticking once a second, for a
matrix of stream counts, over gRPC straight to the process and as Server-Sent Events through
Envoy (as browsers come). For each: streams connected, delivery lag p50/p99 (receive time
minus the ticker's time), KiB of RSS per stream (trading_svc, and Envoy for SSE), CPU of
each and of the load generator. How each configuration is measured: bench/stream_load.py.

    .venv/bin/python bench/streams.py                        # 1k, 5k, 10k x gRPC, SSE
    .venv/bin/python bench/streams.py --counts 10000 --transports grpc

Starts its own mesh on free ports (MariaDB database botmesh_bench_streams, Redis DB
`--redis-db`) with exchange_sim as the venue; trading_svc (and Envoy, for SSE) is restarted
before each configuration. Writes bench/results/streams-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]

from bench.stream_load import (  # noqa: E402
    Load,
    load_dict,
    measure,
    parse_counts,
    print_row,
    restart,
    write_results,
)
from bench.world import bench_env, bench_key, drop_database, fresh_database  # noqa: E402
from cli.launcher import Mesh, mesh_env, service_address  # noqa: E402

DATABASE = "botmesh_bench_streams"
METHOD = "/botmesh.trading.v1.MarketDataService/StreamPrices"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=parse_counts, default=[1000, 5000, 10000])
    parser.add_argument("--transports", default="grpc,sse")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=8)
    parser.add_argument("--ramp", type=float, default=1000, help="new streams per second")
    parser.add_argument("--sample", type=int, default=10, help="one stream in N measures lag")
    parser.add_argument("--market", default="BTC-USDT")
    parser.add_argument("--redis-db", type=int, default=11)
    args = parser.parse_args()

    from botmesh.trading.v1 import market_data_service_pb2 as api

    admin = fresh_database(DATABASE)
    state = Path(tempfile.mkdtemp(prefix="botmesh-streams-"))
    overrides = bench_env(state, DATABASE, f"redis://127.0.0.1:6379/{args.redis_db}")
    overrides["BOTMESH_RUNTIME_ENABLED"] = "false"  # the process serves streams only
    os.environ.update(overrides)
    from mesh.settings import load_settings

    settings = load_settings()
    mesh = Mesh(settings, mesh_env())
    rows = []
    ticker_field = api.StreamPricesResponse.DESCRIPTOR.fields_by_name["ticker"].number
    try:
        mesh.ensure_exchange_sim()
        mesh.migrate()
        mesh.start_services()
        mesh.start_gateway()
        key = asyncio.run(bench_key(settings, "read"))
        host, port = service_address(settings, "trading_svc")
        for count in args.counts:
            for transport in args.transports.split(","):
                pids = restart(mesh, "trading_svc", envoy=transport == "sse")
                load = Load(
                    transport=transport,
                    host=host if transport == "grpc" else "127.0.0.1",
                    port=port if transport == "grpc" else settings.envoy_port,
                    grpc_method=METHOD,
                    grpc_requests=(
                        api.StreamPricesRequest(market=args.market).SerializeToString(),
                    ),
                    sse_paths=(f"/v1/markets/{args.market}/prices:stream",),
                    headers=(("x-api-key", key),),
                    payload="ticker",
                    data_tag=(ticker_field << 3) | 2,
                    response="market_data_service_pb2.StreamPricesResponse",
                    count=count,
                    ramp_per_s=args.ramp,
                    sample=args.sample,
                )
                row = measure(
                    load,
                    workers=args.workers,
                    warmup_s=args.warmup,
                    duration_s=args.duration,
                    pids=pids,
                )
                row["load"] = load_dict(load)
                print_row(row)
                rows.append(row)
    finally:
        mesh.stop()
        drop_database(admin, DATABASE)
    path = write_results("streams", {"method": "StreamPrices", "market": args.market, "rows": rows})
    print(f"written to {path}")
    return 0 if all(r["connected"] == r["streams"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
