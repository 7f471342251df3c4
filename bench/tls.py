"""What TLS at the edge costs: GetBot over REST through Envoy with TLS 1.3 against the same
request in plaintext, in one run, alternating.

Two Envoys in front of the same credential_svc process, one with the development
certificate (`botmesh up --tls`'s CA, cli/dev_ca.py) and one without; every target answers
the same bot to the same key. Four targets:

- plain_keepalive, tls_keepalive: `--connections` connections held open (the handshake is
  paid once per connection; what is left is record encryption);
- plain_close, tls_close: `Connection: close` on every request, so each request opens a new
  TCP connection and, over TLS, makes a full TLS 1.3 handshake (ECDHE P-256 certificate).

Each round runs every target for `--duration` s (the order reversed every other round).
Reported per target as medians over the rounds: req/s, p50, p99, server CPU per request
(Envoy plus credential_svc) and the load generator's CPU per request; then the TLS/plaintext
req/s ratio of each pair within every round. `--internal-tls` runs the services with mutual
TLS between them and from both Envoys, so the pairs then differ only at the edge again.

    .venv/bin/python bench/tls.py --duration 10 --rounds 3

Needs wrk built with OpenSSL (Debian: apt-get install wrk). Starts its own mesh on free ports
against MariaDB (`--database`, recreated) and a Redis DB (`--redis-db`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]

from bench.getbot import Target, _prepare, _summary, alternate, print_table  # noqa: E402
from bench.loadgen import run_wrk  # noqa: E402
from bench.world import bench_env, drop_database, fresh_database  # noqa: E402
from cli.dev_ca import ensure_dev_certificates  # noqa: E402
from cli.launcher import Mesh, free_port, mesh_env  # noqa: E402

PAIRS = {
    "tls / plain, keep-alive": ("tls_keepalive", "plain_keepalive"),
    "tls / plain, new connection per request": ("tls_close", "plain_close"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--internal-tls", action="store_true")
    parser.add_argument("--database", default="botmesh_bench_tls")
    parser.add_argument("--redis-db", type=int, default=11)
    parser.add_argument("--out", default="tls.json")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install wrk", file=sys.stderr)
        return 2

    admin = fresh_database(args.database)
    state = Path(tempfile.mkdtemp(prefix="botmesh-bench-tls-"))
    certs = ensure_dev_certificates(state)
    os.environ.update(bench_env(state, args.database, f"redis://127.0.0.1:6379/{args.redis_db}"))
    os.environ.update(certs.env(internal=args.internal_tls))
    from mesh.settings import load_settings

    settings = load_settings()
    mesh = Mesh(settings, mesh_env(), replicas={})
    load = [os.getloadavg()]
    try:
        mesh.migrate()
        mesh.start_services()
        key, bot_id = asyncio.run(_prepare(settings))
        targets = _targets(args, mesh, key, bot_id)
        rounds = alternate(targets, args.rounds, args.duration)
        load.append(os.getloadavg())
    finally:
        mesh.stop()
        drop_database(admin, args.database)

    summary = _summary(rounds)
    ratios = {
        label: [round(r[a]["rps"] / r[b]["rps"], 3) for r in rounds]
        for label, (a, b) in PAIRS.items()
    }
    _print(args, summary, ratios, load)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    report = {
        "connections": args.connections,
        "duration_s": args.duration,
        "internal_tls": args.internal_tls,
        "cores": os.cpu_count(),
        "load_average": load,
        "rounds": rounds,
        "summary": summary,
        "ratios": ratios,
    }
    (out / args.out).write_text(json.dumps(report, indent=2))
    return 0


def _targets(args: argparse.Namespace, mesh: Mesh, key: str, bot_id: str) -> list[Target]:
    path = f"/v1/bots/{bot_id}"
    tls_port = mesh.start_gateway()
    plain_port = mesh.start_gateway(
        "envoy-plain", port=free_port(), admin_port=free_port(), plaintext=True
    )

    def target(name: str, url: str, gateway: str, headers: tuple[str, ...]) -> Target:
        return Target(
            name,
            lambda d: run_wrk(url, key, args.connections, d, headers),
            lambda: [mesh.processes[gateway].pid, mesh.processes["credential_svc"].pid],
        )

    close = ("Connection: close",)
    plain = f"http://127.0.0.1:{plain_port}{path}"
    tls = f"https://localhost:{tls_port}{path}"
    return [
        target("plain_keepalive", plain, "envoy-plain", ()),
        target("tls_keepalive", tls, "envoy", ()),
        target("plain_close", plain, "envoy-plain", close),
        target("tls_close", tls, "envoy", close),
    ]


def _print(args, summary, ratios, load) -> None:  # type: ignore[no-untyped-def]
    print(
        f"\nGetBot REST over TLS 1.3 vs plaintext, c={args.connections}, {args.duration}s x "
        f"{args.rounds} rounds, internal TLS {'on' if args.internal_tls else 'off'}, "
        f"{os.cpu_count()} cores, load average before {load[0][0]:.2f}, after {load[-1][0]:.2f}"
    )
    print_table(summary, ratios, label_width=40)


if __name__ == "__main__":
    raise SystemExit(main())
