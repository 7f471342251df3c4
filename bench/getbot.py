"""GetBot under load, three ways in one run: REST through Envoy, gRPC through Envoy, and gRPC
straight to credential_svc. Reports req/s, p50/p99 and server CPU per request, and the ratio
of Envoy-REST to direct gRPC.

    make bench                     # or: .venv/bin/python bench/getbot.py --duration 10

Needs wrk and h2load (Debian: apt-get install wrk nghttp2-client). Starts its own mesh on free
ports against MariaDB (database botmesh_bench, recreated) and Redis DB 10, like the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]

from botmesh.credential.v1 import marketplace_service_pb2 as api  # noqa: E402

from bench.world import bench_env, bench_key, drop_database, fresh_database  # noqa: E402
from cli.launcher import Mesh, mesh_env, service_address  # noqa: E402

DATABASE = "botmesh_bench"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentiles_us(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _header_args(headers: Sequence[str]) -> list[str]:
    return [arg for header in headers for arg in ("-H", header)]


def run_wrk(
    url: str, key: str, conns: int, duration: int, headers: Sequence[str] = ()
) -> dict[str, float]:
    """`headers`: more "name: value" headers, e.g. x-principal-id (bench/subscriptions.py)."""
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{conns}",
            f"-d{duration}s",
            "--latency",
            "-H",
            f"x-api-key: {key}",
            *_header_args(headers),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_us": pct("50"),
        "p99_us": pct("99"),
        "errors": int(errors.group(1)) if errors else 0,
    }


def run_h2load(
    url: str, body: Path, key: str, conns: int, duration: int, headers: Sequence[str] = ()
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile(suffix=".tsv") as log:
        out = subprocess.run(
            [
                "h2load",
                f"-c{conns}",
                "-m1",
                "-t2",
                f"-D{duration}",
                "--warm-up-time=1",
                "-d",
                str(body),
                "-H",
                "content-type: application/grpc",
                "-H",
                "te: trailers",
                "-H",
                f"x-api-key: {key}",
                *_header_args(headers),
                f"--log-file={log.name}",
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rows = [line.split("\t") for line in Path(log.name).read_text().splitlines() if line]
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))  # type: ignore[union-attr]
    latencies = [float(r[2]) for r in rows if r[1] == "200"]
    p50, p99 = percentiles_us(latencies)
    failed = int(re.search(r"(\d+) failed", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p50_us": p50, "p99_us": p99, "errors": failed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    for tool in ("wrk", "h2load"):
        if shutil.which(tool) is None:
            print(f"{tool} not found: apt-get install wrk nghttp2-client", file=sys.stderr)
            return 2

    admin = fresh_database(DATABASE)
    state = Path(tempfile.mkdtemp(prefix="botmesh-bench-"))
    overrides = bench_env(state, DATABASE, "redis://127.0.0.1:6379/10")
    os.environ.update(overrides)
    from mesh.settings import load_settings

    settings = load_settings()
    mesh = Mesh(settings, mesh_env())
    try:
        mesh.migrate()
        mesh.start_services()
        mesh.start_gateway()
        key, bot_id = asyncio.run(_prepare(settings))
        envoy = f"http://127.0.0.1:{settings.envoy_port}"
        host, port = service_address(settings, "credential_svc")
        body = state / "getbot.grpc"
        payload = api.GetBotRequest(bot_id=bot_id).SerializeToString()
        body.write_bytes(b"\x00" + struct.pack(">I", len(payload)) + payload)
        grpc_path = "/botmesh.credential.v1.MarketplaceService/GetBot"
        pids = {
            "credential_svc": mesh.processes["credential_svc"].pid,
            "envoy": mesh.processes["envoy"].pid,
        }

        targets = {
            "envoy_rest": lambda: run_wrk(
                f"{envoy}/v1/bots/{bot_id}", key, args.connections, args.duration
            ),
            "envoy_grpc": lambda: run_h2load(
                f"{envoy}{grpc_path}", body, key, args.connections, args.duration
            ),
            "direct_grpc": lambda: run_h2load(
                f"http://{host}:{port}{grpc_path}", body, key, args.connections, args.duration
            ),
        }
        results: dict[str, dict[str, float]] = {}
        for name, run in targets.items():
            before = {p: cpu_seconds(pid) for p, pid in pids.items()}
            start = time.monotonic()
            result = run()
            elapsed = time.monotonic() - start
            used = {p: cpu_seconds(pid) - before[p] for p, pid in pids.items()}
            total = result["rps"] * elapsed
            result["service_cpu_us_per_req"] = used["credential_svc"] / total * 1e6
            result["envoy_cpu_us_per_req"] = used["envoy"] / total * 1e6
            results[name] = result
        ratio = results["envoy_rest"]["rps"] / results["direct_grpc"]["rps"]
    finally:
        mesh.stop()
        drop_database(admin, DATABASE)

    print(f"GetBot, c={args.connections}, {args.duration}s each, {os.cpu_count()} cores")
    print(
        f"{'path':<12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'svc CPU us/req':>15} {'envoy CPU us/req':>17} {'errors':>7}"
    )
    for name, r in results.items():
        print(
            f"{name:<12} {r['rps']:>9.0f} {r['p50_us'] / 1e3:>8.2f} {r['p99_us'] / 1e3:>8.2f} "
            f"{r['service_cpu_us_per_req']:>15.0f} {r['envoy_cpu_us_per_req']:>17.0f} {r['errors']:>7.0f}"
        )
    print(f"Envoy-REST / direct-gRPC throughput ratio: {ratio:.2f}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "getbot.json").write_text(json.dumps({"results": results, "ratio": ratio}, indent=2))
    return 0


async def _prepare(settings) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A read key and one bot, made through the real code paths."""
    from credential_svc.catalog.authors import Actor
    from credential_svc.catalog.service import Catalog
    from credential_svc.catalog.store import CatalogStore
    from mesh.audit import AuditLog
    from mesh.db import make_engine
    from mesh.redis import make_redis

    engine = make_engine(settings.database_url)
    redis = make_redis(settings.redis_url)
    await redis.flushdb()
    key = await bench_key(settings, "read", "bots:write")
    catalog = Catalog(CatalogStore(engine, AuditLog(settings.api_key_pepper)), redis)
    bot = await catalog.create_bot(
        Actor(key_id="bench", principal=None, admin=False),
        name="bench bot",
        description="",
        strategy="ma_crossover",
        strategy_params={"fast": "9"},
        markets=("BTC-USDT",),
        timeframe="1h",
        risk_limits={},
        advisor_enabled=False,
    )
    await redis.aclose()
    await engine.dispose()
    return key, bot.bot_id


if __name__ == "__main__":
    raise SystemExit(main())
