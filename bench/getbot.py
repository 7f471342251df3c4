"""GetBot over REST: the mesh against FastAPI + uvicorn on the same cores, in one run,
alternating. Every target answers the same bot to the same key, from the same MariaDB
database and Redis:

- mesh_1p: REST through Envoy to one credential_svc process;
- mesh_2p: REST through Envoy to two credential_svc processes (`--replicas credential=2`);
- fastapi_1w, fastapi_2w: bench/fastapi_ref under uvicorn with one and two workers;
- with `--envoy-concurrency 1,2,auto`: mesh_2p behind Envoys of those worker counts;
- with `--grpc`: gRPC through Envoy and straight to one credential_svc process (h2load).

Each round runs every target once for `--duration` s at `--connections` (the order reversed
every other round). Reported per target, as medians over the rounds: req/s, p50, p99, server
CPU per request (Envoy plus the credential_svc processes it routes to, or every uvicorn
process) and the load generator's CPU per request; then mesh/FastAPI ratios per round.

    make bench                     # or: .venv/bin/python bench/getbot.py --duration 10 --rounds 3

Needs wrk and h2load (Debian: apt-get install wrk nghttp2-client). Starts its own mesh on free
ports against MariaDB (`--database`, recreated) and a Redis DB (`--redis-db`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]

from botmesh.credential.v1 import marketplace_service_pb2 as api  # noqa: E402

from bench.fastapi_ref import run as fastapi_ref  # noqa: E402
from bench.loadgen import cpu_seconds, percentiles_us, run_h2load, run_wrk  # noqa: E402
from bench.world import bench_env, bench_key, drop_database, fresh_database  # noqa: E402
from cli.launcher import Mesh, free_port, mesh_env, service_address  # noqa: E402

# Older benches import the load tools from here.
__all__ = ["cpu_seconds", "percentiles_us", "run_h2load", "run_wrk"]
GRPC_PATH = "/botmesh.credential.v1.MarketplaceService/GetBot"


@dataclass
class Target:
    name: str
    # Loads the target for the given seconds.
    run: Callable[[int], dict[str, float]]
    # The processes whose CPU the target's requests cost (read when it runs).
    pids: Callable[[], list[int]]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(target: Target, duration: int) -> dict[str, float]:
    pids = target.pids()
    before = sum(cpu_seconds(p) for p in pids)
    client_before = _children_cpu()
    start = time.monotonic()
    result = target.run(duration)
    elapsed = time.monotonic() - start
    requests = result["rps"] * elapsed
    result["server_cpu_us_per_req"] = (sum(cpu_seconds(p) for p in pids) - before) / requests * 1e6
    result["client_cpu_us_per_req"] = (_children_cpu() - client_before) / requests * 1e6
    return result


def alternate(
    targets: list[Target], rounds: int, duration: int
) -> list[dict[str, dict[str, float]]]:
    """Every target measured `rounds` times for `duration` s, after a warm-up of each, the
    order reversed every other round so that neither side always runs first."""
    for target in targets:  # warm every cache and connection
        measure(target, 2)
    results: list[dict[str, dict[str, float]]] = []
    for i in range(rounds):
        order = targets if i % 2 == 0 else list(reversed(targets))
        results.append({t.name: measure(t, duration) for t in order})
        print(f"round {i + 1}: " + _brief(results[-1]), flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--envoy-concurrency", default="", help="e.g. 1,2,auto")
    parser.add_argument("--grpc", action="store_true", help="also gRPC via Envoy and direct")
    parser.add_argument("--database", default="botmesh_bench")
    parser.add_argument("--redis-db", type=int, default=10)
    parser.add_argument("--out", default="getbot.json")
    args = parser.parse_args()
    for tool in ("wrk", "h2load"):
        if shutil.which(tool) is None:
            print(f"{tool} not found: apt-get install wrk nghttp2-client", file=sys.stderr)
            return 2

    admin = fresh_database(args.database)
    state = Path(tempfile.mkdtemp(prefix="botmesh-bench-"))
    os.environ.update(bench_env(state, args.database, f"redis://127.0.0.1:6379/{args.redis_db}"))
    from mesh.settings import load_settings

    settings = load_settings()
    mesh = Mesh(settings, mesh_env(), replicas={"credential_svc": 2})
    refs: list = []  # type: ignore[type-arg]
    load = [os.getloadavg()]
    try:
        mesh.migrate()
        mesh.start_services()
        key, bot_id = asyncio.run(_prepare(settings))
        targets = _targets(args, mesh, state, key, bot_id, refs)
        rounds = alternate(targets, args.rounds, args.duration)
        load.append(os.getloadavg())
    finally:
        for proc in refs:
            _stop_group(proc)
        mesh.stop()
        drop_database(admin, args.database)

    summary = _summary(rounds)
    ratios = _ratios(rounds)
    _print(args, summary, ratios, load)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    report = {
        "connections": args.connections,
        "duration_s": args.duration,
        "cores": os.cpu_count(),
        "load_average": load,
        "rounds": rounds,
        "summary": summary,
        "ratios": ratios,
    }
    (out / args.out).write_text(json.dumps(report, indent=2))
    return 0


def _targets(args, mesh: Mesh, state: Path, key: str, bot_id: str, refs: list) -> list[Target]:  # type: ignore[no-untyped-def,type-arg]
    conns = args.connections
    path = f"/v1/bots/{bot_id}"
    services = ["credential_svc-0", "credential_svc-1"]

    def pids_of(*names: str) -> Callable[[], list[int]]:
        return lambda: [mesh.processes[n].pid for n in names]

    def wrk(name: str, port: int, pids: Callable[[], list[int]]) -> Target:
        url = f"http://127.0.0.1:{port}{path}"
        return Target(name, lambda d: run_wrk(url, key, conns, d), pids)

    def rest(name: str, port: int, *processes: str) -> Target:
        return wrk(name, port, pids_of(*processes))

    def tree(pid: int) -> Callable[[], list[int]]:
        return lambda: fastapi_ref.processes(pid)

    one = mesh.start_gateway(
        "envoy-1p", port=free_port(), admin_port=free_port(), replicas={"credential_svc": 1}
    )
    two = mesh.start_gateway()
    # Each mesh target next to the FastAPI one it is compared with: the machine's other load
    # changes least between neighbours.
    targets = []
    for workers, (gateway, port, processes) in (
        (1, ("envoy-1p", one, services[:1])),
        (2, ("envoy", two, services)),
    ):
        targets.append(rest(f"mesh_{workers}p", port, gateway, *processes))
        ref_port = free_port()
        proc = fastapi_ref.start(ref_port, workers, mesh_env(), state / f"fastapi-{workers}.log")
        refs.append(proc)
        targets.append(wrk(f"fastapi_{workers}w", ref_port, tree(proc.pid)))
    for value in filter(None, args.envoy_concurrency.split(",")):
        workers = 0 if value == "auto" else int(value)
        name = f"envoy-c{value}"
        port = mesh.start_gateway(
            name, port=free_port(), admin_port=free_port(), concurrency=workers
        )
        targets.append(rest(f"mesh_2p_envoy_{value}", port, name, *services))
    if args.grpc:
        body = state / "getbot.grpc"
        payload = api.GetBotRequest(bot_id=bot_id).SerializeToString()
        body.write_bytes(b"\x00" + struct.pack(">I", len(payload)) + payload)
        host, port = service_address(mesh.settings, "credential_svc")
        via = f"http://127.0.0.1:{two}{GRPC_PATH}"
        direct = f"http://{host}:{port}{GRPC_PATH}"
        targets.append(
            Target(
                "grpc_envoy_2p",
                lambda d: run_h2load(via, body, key, conns, d),
                pids_of("envoy", *services),
            )
        )
        targets.append(
            Target(
                "grpc_direct_1p",
                lambda d: run_h2load(direct, body, key, conns, d),
                pids_of(services[0]),
            )
        )
    return targets


def _stop_group(proc) -> None:  # type: ignore[no-untyped-def]
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, TimeoutError):
        pass


def _summary(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    names = list(rounds[0])
    keys = ("rps", "p50_us", "p99_us", "server_cpu_us_per_req", "client_cpu_us_per_req")
    summary = {
        name: {k: statistics.median(r[name][k] for r in rounds) for k in keys} for name in names
    }
    for name in names:
        summary[name]["errors"] = sum(r[name]["errors"] for r in rounds)
    return summary


RATIOS = {
    "mesh_2p / fastapi_2w": ("mesh_2p", "fastapi_2w"),
    "mesh_1p / fastapi_1w": ("mesh_1p", "fastapi_1w"),
    "mesh_1p / fastapi_2w": ("mesh_1p", "fastapi_2w"),
    "mesh_2p / mesh_1p": ("mesh_2p", "mesh_1p"),
}


def _ratios(rounds: list[dict[str, dict[str, float]]]) -> dict[str, list[float]]:
    """Throughput ratios within each round (both sides measured minutes apart at most)."""
    return {
        label: [round(r[a]["rps"] / r[b]["rps"], 3) for r in rounds]
        for label, (a, b) in RATIOS.items()
    }


def _brief(results: dict[str, dict[str, float]]) -> str:
    return ", ".join(f"{n} {r['rps']:.0f}/s" for n, r in results.items())


def _print(args, summary, ratios, load) -> None:  # type: ignore[no-untyped-def]
    print(
        f"\nGetBot REST, c={args.connections}, {args.duration}s x {args.rounds} rounds, "
        f"{os.cpu_count()} cores, load average before {load[0][0]:.2f}, after {load[-1][0]:.2f}"
    )
    print_table(summary, ratios)


def print_table(
    summary: dict[str, dict[str, float]], ratios: dict[str, list[float]], label_width: int = 22
) -> None:
    """Each target's medians, then each ratio's median and its value in every round."""
    width = max(len(name) for name in summary) + 2
    print(
        f"{'target':<{width}} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'server CPU us/req':>18} {'client CPU us/req':>18} {'errors':>7}"
    )
    for name, r in summary.items():
        print(
            f"{name:<{width}} {r['rps']:>8.0f} {r['p50_us'] / 1e3:>8.2f} {r['p99_us'] / 1e3:>8.2f} "
            f"{r['server_cpu_us_per_req']:>18.0f} {r['client_cpu_us_per_req']:>18.0f} "
            f"{r['errors']:>7.0f}"
        )
    for label, values in ratios.items():
        text = ", ".join(f"{v:.2f}" for v in values)
        print(f"{label:<{label_width}} median {statistics.median(values):.2f}  (rounds: {text})")


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
