"""SubscriptionService under load, in one run against its own mesh (MariaDB, Redis, Envoy):

1. GetSubscription with a marketplace key and x-principal-id: REST through Envoy, gRPC
   through Envoy and gRPC straight to credential_svc (req/s, p50/p99, CPU per request);
2. the cost of idempotency: CreateSubscription p50/p99 through Envoy without and with an
   Idempotency-Key (a fresh key per request, so every request claims and records one);
3. the ICP replica storm: 200 distinct Idempotency-Keys x 13 concurrent copies over IPv6
   through Envoy, as 13 "replicas" each sending its 200 outcalls at once: subscriptions
   created (must be 200), keys whose copies got differing answers (must be 0), and the time
   until every copy was answered.

    .venv/bin/python bench/subscriptions.py [--duration 10] [--connections 64]

Needs wrk and h2load, like bench/getbot.py, whose runners and helpers it reuses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]

import grpc  # noqa: E402
import httpx  # noqa: E402
from botmesh.credential.v1 import subscription_service_pb2 as api  # noqa: E402
from botmesh.credential.v1 import subscription_service_pb2_grpc as rpc  # noqa: E402

from bench.getbot import cpu_seconds, percentiles_us, run_h2load, run_wrk  # noqa: E402
from bench.world import bench_env, bench_key, drop_database, fresh_database  # noqa: E402
from cli.launcher import Mesh, mesh_env, service_address  # noqa: E402

DATABASE = "botmesh_bench_subs"
REDIS_DB = 11
GRPC_PATH = "/botmesh.credential.v1.SubscriptionService/GetSubscription"
BOT = {"name": "bench bot", "strategy": "ma_crossover", "markets": ["BTC-USDT"], "timeframe": "1h"}


@dataclass(frozen=True)
class Renter:
    key: str
    principal: str
    bot_id: str
    listing_id: str
    credential_id: str
    subscription_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.key, "x-principal-id": self.principal}

    def terms(self) -> dict[str, str]:
        return {
            "bot_id": self.bot_id,
            "listing_id": self.listing_id,
            "credential_id": self.credential_id,
            "market": "BTC-USDT",
            "allocation": "100",
        }


def count_subscriptions(admin: Any) -> int:
    with admin.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {DATABASE}.subscriptions")
        return int(cur.fetchone()[0])


async def prepare(settings: Any, envoy: str) -> Renter:
    """A marketplace key, a principal with a verified credential (against exchange_sim,
    started here for the verification only), a bot, and one paid subscription, all made
    through the real API."""
    from exchange_sim import SimConfig, start_sim
    from mesh.principal import format_principal

    key = await bench_key(settings, "marketplace", "bots:write")
    principal = format_principal(os.urandom(29))
    sim = await start_sim(SimConfig(seed=1), port=urlparse(settings.exchange_sim_url).port or 0)
    try:
        async with sim.admin() as admin:
            account = await admin.create_account({"USDT": "100000"})
        async with httpx.AsyncClient(base_url=envoy, timeout=30) as client:
            h = {"x-api-key": key, "x-principal-id": principal}

            async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
                resp = await client.post(path, json=body, headers=h)
                resp.raise_for_status()
                out: dict[str, Any] = resp.json()
                return out

            await post("/v1/users", {"display_name": "bench"})
            cred = (
                await post(
                    "/v1/credentials",
                    {
                        "exchange": "binance",
                        "api_key": account.api_key,
                        "api_secret": account.api_secret,
                    },
                )
            )["credential"]
            verified = await post(f"/v1/credentials/{cred['credential_id']}:verify", {})
            assert verified["accepted"], verified
            bot = (await post("/v1/bots", BOT))["bot"]  # authored by the principal named
            listing = (
                await post(
                    f"/v1/bots/{bot['bot_id']}/listings",
                    {
                        "canister_id": "qoctq-giaaa-aaaaa-aaaea-cai",
                        "marketplace_listing_id": f"bench-{os.urandom(6).hex()}",
                        "price_e8s": "100000000",
                        "period_days": 30,
                    },
                )
            )["listing"]
            renter = Renter(
                key, principal, bot["bot_id"], listing["listing_id"], cred["credential_id"], ""
            )
            sub = (await post("/v1/subscriptions", renter.terms()))["subscription"]
            payment = {"ledger": "ryjl3-tyaaa-aaaaa-aaaba-cai", "block_index": "1"}
            await post(
                f"/v1/subscriptions/{sub['subscription_id']}/payments",
                {**payment, "amount_e8s": "100000000", "period_days": 30},
            )
    finally:
        await sim.close()
    return Renter(
        key,
        principal,
        bot["bot_id"],
        listing["listing_id"],
        cred["credential_id"],
        sub["subscription_id"],
    )


async def preflight(target: str, renter: Renter) -> None:
    """h2load counts HTTP 200 as success even when grpc-status is not OK: prove the request
    succeeds on this path first."""
    async with grpc.aio.insecure_channel(target) as channel:
        reply = await rpc.SubscriptionServiceStub(channel).GetSubscription(
            api.GetSubscriptionRequest(subscription_id=renter.subscription_id),
            metadata=tuple(renter.headers.items()),
            timeout=10,
        )
    assert reply.subscription.subscription_id == renter.subscription_id


def bench_get(
    settings: Any, mesh: Mesh, renter: Renter, state: Path, conns: int, duration: int
) -> dict[str, dict[str, float]]:
    envoy = f"http://127.0.0.1:{settings.envoy_port}"
    host, port = service_address(settings, "credential_svc")
    asyncio.run(preflight(f"127.0.0.1:{settings.envoy_port}", renter))
    asyncio.run(preflight(f"{host}:{port}", renter))
    body = state / "getsubscription.grpc"
    payload = api.GetSubscriptionRequest(subscription_id=renter.subscription_id)
    raw = payload.SerializeToString()
    body.write_bytes(b"\x00" + struct.pack(">I", len(raw)) + raw)
    principal = [f"x-principal-id: {renter.principal}"]
    pids = {name: mesh.processes[name].pid for name in ("credential_svc", "envoy")}
    targets: dict[str, Callable[[], dict[str, float]]] = {
        "envoy_rest": lambda: run_wrk(
            f"{envoy}/v1/subscriptions/{renter.subscription_id}",
            renter.key,
            conns,
            duration,
            principal,
        ),
        "envoy_grpc": lambda: run_h2load(
            f"{envoy}{GRPC_PATH}", body, renter.key, conns, duration, principal
        ),
        "direct_grpc": lambda: run_h2load(
            f"http://{host}:{port}{GRPC_PATH}", body, renter.key, conns, duration, principal
        ),
    }
    results: dict[str, dict[str, float]] = {}
    for name, run in targets.items():
        before = {p: cpu_seconds(pid) for p, pid in pids.items()}
        start = time.monotonic()
        result = run()
        elapsed = time.monotonic() - start
        total = result["rps"] * elapsed
        for p, pid in pids.items():
            result[f"{p}_cpu_us_per_req"] = (cpu_seconds(pid) - before[p]) / total * 1e6
        results[name] = result
    return results


async def bench_create(
    envoy: str, renter: Renter, requests: int, concurrency: int
) -> dict[str, Any]:
    """CreateSubscription latency without and with a fresh Idempotency-Key per request."""
    out: dict[str, Any] = {}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=envoy, timeout=60, limits=limits) as client:

        async def one(keyed: bool) -> tuple[float, int]:
            headers = dict(renter.headers)
            if keyed:
                headers["idempotency-key"] = secrets.token_hex(16)
            begin = time.perf_counter()
            resp = await client.post("/v1/subscriptions", json=renter.terms(), headers=headers)
            return (time.perf_counter() - begin) * 1e6, resp.status_code

        async def batch(keyed: bool) -> dict[str, float]:
            gate = asyncio.Semaphore(concurrency)

            async def gated() -> tuple[float, int]:
                async with gate:
                    return await one(keyed)

            begin = time.perf_counter()
            replies = await asyncio.gather(*[gated() for _ in range(requests)])
            elapsed = time.perf_counter() - begin
            p50, p99 = percentiles_us([us for us, _ in replies])
            return {
                "requests": requests,
                "rps": requests / elapsed,
                "p50_us": p50,
                "p99_us": p99,
                "errors": sum(1 for _, code in replies if code != 200),
            }

        for keyed in (False, True, False, True):  # interleaved twice; the second pair counts
            out["with_key" if keyed else "without_key"] = await batch(keyed)
    return out


async def bench_storm(settings: Any, renter: Renter, keys: int, copies: int) -> dict[str, Any]:
    """`copies` replicas, each a client of its own sending all `keys` outcalls at once."""
    v6 = f"http://[::1]:{settings.envoy_port}"
    idem = [secrets.token_hex(16) for _ in range(keys)]
    limits = httpx.Limits(max_connections=50)
    clients = [httpx.AsyncClient(base_url=v6, timeout=120, limits=limits) for _ in range(copies)]
    answered: dict[str, list[tuple[int, bytes]]] = {k: [] for k in idem}
    done_at: dict[str, float] = {}
    start = time.perf_counter()

    async def send(client: httpx.AsyncClient, key: str) -> None:
        resp = await client.post(
            "/v1/subscriptions",
            json=renter.terms(),
            headers={**renter.headers, "idempotency-key": key},
        )
        answered[key].append((resp.status_code, resp.content))
        done_at[key] = time.perf_counter() - start

    try:
        await asyncio.gather(*[send(c, k) for k in idem for c in clients])
    finally:
        for client in clients:
            await client.aclose()
    total = time.perf_counter() - start
    per_key = sorted(done_at.values())
    statuses = [code for replies in answered.values() for code, _ in replies]
    return {
        "keys": keys,
        "copies": copies,
        "all_answered_s": total,
        "key_all_answered_p50_s": per_key[len(per_key) // 2],
        "key_all_answered_p99_s": per_key[min(len(per_key) - 1, int(len(per_key) * 0.99))],
        "non_200": sum(1 for code in statuses if code != 200),
        "non_200_samples": sorted(
            {
                f"{code} {body[:160].decode(errors='replace')}"
                for replies in answered.values()
                for code, body in replies
                if code != 200
            }
        )[:5],
        "keys_with_differing_answers": sum(
            1 for replies in answered.values() if len({body for _, body in replies}) != 1
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--create-requests", type=int, default=400)
    parser.add_argument("--create-concurrency", type=int, default=16)
    parser.add_argument("--storm-keys", type=int, default=200)
    parser.add_argument("--storm-copies", type=int, default=13)
    parser.add_argument("--phases", default="get,create,storm", help="which to run")
    args = parser.parse_args()

    admin = fresh_database(DATABASE)
    state = Path(tempfile.mkdtemp(prefix="botmesh-bench-subs-"))
    overrides = bench_env(state, DATABASE, f"redis://127.0.0.1:6379/{REDIS_DB}")
    overrides["BOTMESH_EXCHANGE_VENUE"] = "sim"
    os.environ.update(overrides)
    from mesh.settings import load_settings

    settings = load_settings()
    mesh = Mesh(settings, mesh_env())
    envoy = f"http://127.0.0.1:{settings.envoy_port}"
    report: dict[str, Any] = {}
    try:
        mesh.migrate()
        mesh.start_services()
        mesh.start_gateway()
        renter = asyncio.run(prepare(settings, envoy))
        phases = set(args.phases.split(","))
        if "get" in phases:
            report["get"] = bench_get(
                settings, mesh, renter, state, args.connections, args.duration
            )
        if "create" in phases:
            report["create"] = asyncio.run(
                bench_create(envoy, renter, args.create_requests, args.create_concurrency)
            )
        if "storm" in phases:
            before = count_subscriptions(admin)
            report["storm"] = asyncio.run(
                bench_storm(settings, renter, args.storm_keys, args.storm_copies)
            )
            report["storm"]["subscriptions_created"] = count_subscriptions(admin) - before
    finally:
        mesh.stop()
        drop_database(admin, DATABASE)

    print_report(report, args)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "subscriptions.json").write_text(json.dumps(report, indent=2))
    return 0


def print_report(report: dict[str, Any], args: argparse.Namespace) -> None:
    if "get" in report:
        print_get(report, args)
    if "create" in report:
        print(f"\nCreateSubscription through Envoy, concurrency {args.create_concurrency}")
        for name, r in report["create"].items():
            print(
                f"{name:<12} {r['rps']:>9.0f} req/s  p50 {r['p50_us'] / 1e3:.2f} ms  "
                f"p99 {r['p99_us'] / 1e3:.2f} ms  errors {r['errors']}"
            )
    if "storm" in report:
        s = report["storm"]
        print(
            f"\nStorm: {s['keys']} keys x {s['copies']} copies over IPv6 through Envoy: "
            f"{s['subscriptions_created']} subscriptions created, "
            f"{s['keys_with_differing_answers']} keys with differing answers, "
            f"{s['non_200']} non-200 answers; all answered after {s['all_answered_s']:.2f} s "
            f"(per key: p50 {s['key_all_answered_p50_s']:.2f} s, "
            f"p99 {s['key_all_answered_p99_s']:.2f} s)"
        )
        for sample in s["non_200_samples"]:
            print(f"  {sample}")


def print_get(report: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"GetSubscription, c={args.connections}, {args.duration}s each, {os.cpu_count()} cores")
    print(
        f"{'path':<12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'svc us/req':>11} {'envoy us/req':>13} {'errors':>7}"
    )
    for name, r in report["get"].items():
        print(
            f"{name:<12} {r['rps']:>9.0f} {r['p50_us'] / 1e3:>8.2f} {r['p99_us'] / 1e3:>8.2f} "
            f"{r['credential_svc_cpu_us_per_req']:>11.0f} {r['envoy_cpu_us_per_req']:>13.0f} "
            f"{r['errors']:>7.0f}"
        )
    ratio = report["get"]["envoy_rest"]["rps"] / report["get"]["direct_grpc"]["rps"]
    print(f"Envoy-REST / direct-gRPC throughput ratio: {ratio:.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
