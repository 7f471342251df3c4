"""Manual market orders through the whole path: REST through Envoy to trading_svc, the
credential released by credential_svc, ccxt to exchange_sim, fills stored, and back.
Reports p50/p99 per order over `--orders` orders, placed `--concurrency` at a time.

    .venv/bin/python bench/orders.py --orders 1000

The marketplace flow is set up through the public API like a real renter: user, exchange
credential (verified), bot, subscription, payment. Starts its own mesh on free ports
(MariaDB database botmesh_bench_orders, Redis DB 12) and exchange_sim.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]

import httpx  # noqa: E402

from bench.getbot import percentiles_us  # noqa: E402
from bench.world import bench_env, bench_key, drop_database, fresh_database  # noqa: E402
from cli.launcher import Mesh, mesh_env  # noqa: E402

DATABASE = "botmesh_bench_orders"
LEDGER = "ryjl3-tyaaa-aaaaa-aaaba-cai"


async def setup_renter(settings: Any, rest: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    """A paying renter with a verified credential and an active subscription."""
    from exchange_sim import AdminClient
    from mesh.principal import format_principal

    market_key = await bench_key(settings, "marketplace")
    author_key = await bench_key(settings, "bots:write", name="author", limited=True)
    principal = format_principal(os.urandom(29))
    who = {"x-api-key": market_key, "x-principal-id": principal}

    async def call(
        method: str, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any]:
        resp = await rest.request(method, path, json=body, headers=headers)
        assert resp.status_code == 200, f"{path}: {resp.text}"
        result: dict[str, Any] = resp.json()
        return result

    await call("POST", "/v1/users", {"display_name": "bench"}, who)
    async with AdminClient(settings.exchange_sim_url) as sim:
        account = await sim.create_account({"USDT": "100000000", "BTC": "1000"})
    credential = (
        await call(
            "POST",
            "/v1/credentials",
            {"exchange": "binance", "api_key": account.api_key, "api_secret": account.api_secret},
            who,
        )
    )["credential"]
    await call("POST", f"/v1/credentials/{credential['credential_id']}:verify", {}, who)
    bot = (
        await call(
            "POST",
            "/v1/bots",
            {
                "name": "bench bot",
                "strategy": "ma_crossover",
                "markets": ["BTC-USDT"],
                "timeframe": "1h",
            },
            {"x-api-key": author_key},
        )
    )["bot"]
    listing = (
        await call(
            "POST",
            f"/v1/bots/{bot['bot_id']}/listings",
            {
                "canister_id": "qoctq-giaaa-aaaaa-aaaea-cai",
                "marketplace_listing_id": f"bench-{os.urandom(6).hex()}",
                "price_e8s": "100000000",
                "period_days": 30,
            },
            {"x-api-key": author_key},
        )
    )["listing"]
    sub = (
        await call(
            "POST",
            "/v1/subscriptions",
            {
                "bot_id": bot["bot_id"],
                "listing_id": listing["listing_id"],
                "credential_id": credential["credential_id"],
                "market": "BTC-USDT",
                "allocation": "100000000",
            },
            who,
        )
    )["subscription"]
    await call(
        "POST",
        f"/v1/subscriptions/{sub['subscription_id']}/payments",
        {"ledger": LEDGER, "block_index": "1", "amount_e8s": "100000000", "period_days": 30},
        who,
    )
    return who, sub["subscription_id"]


async def place_orders(
    rest: httpx.AsyncClient, who: dict[str, str], sub_id: str, n: int, concurrency: int
) -> tuple[list[float], int]:
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        nonlocal failures
        while not queue.empty():
            i = queue.get_nowait()
            body = {
                "side": "ORDER_SIDE_BUY" if i % 2 == 0 else "ORDER_SIDE_SELL",
                "type": "ORDER_TYPE_MARKET",
                "quantity": "0.001",
            }
            start = time.perf_counter()
            resp = await rest.post(f"/v1/subscriptions/{sub_id}/orders", json=body, headers=who)
            latencies.append((time.perf_counter() - start) * 1e6)
            if resp.status_code != 200 or resp.json()["order"]["state"] != "ORDER_STATE_FILLED":
                failures += 1

    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return latencies, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument(
        "--ccxt-throttle", action="store_true", help="keep ccxt's client-side rate limiter on"
    )
    args = parser.parse_args()

    admin = fresh_database(DATABASE)
    state = Path(tempfile.mkdtemp(prefix="botmesh-orders-"))
    overrides = bench_env(state, DATABASE, "redis://127.0.0.1:6379/12")
    overrides["BOTMESH_EXCHANGE_RATE_LIMIT"] = "true" if args.ccxt_throttle else "false"
    os.environ.update(overrides)
    from mesh.settings import load_settings

    settings = load_settings()
    mesh = Mesh(settings, mesh_env())

    async def run() -> tuple[list[float], int]:
        async with httpx.AsyncClient(base_url=mesh.rest_url, timeout=30) as rest:
            who, sub_id = await setup_renter(settings, rest)
            await place_orders(rest, who, sub_id, 20, 1)  # warm-up: clients, markets, caches
            return await place_orders(rest, who, sub_id, args.orders, args.concurrency)

    try:
        mesh.ensure_exchange_sim()
        mesh.migrate()
        mesh.start_services()
        mesh.start_gateway()
        started = time.monotonic()
        latencies, failures = asyncio.run(run())
        elapsed = time.monotonic() - started
    finally:
        mesh.stop()
        drop_database(admin, DATABASE)
    p50, p99 = percentiles_us(latencies)
    throttle = "on" if args.ccxt_throttle else "off"
    print(
        f"{len(latencies)} manual market orders, concurrency {args.concurrency}, REST via Envoy -> trading_svc -> exchange_sim (ccxt throttle {throttle})"
    )
    print(
        f"p50 {p50 / 1e3:.1f} ms, p99 {p99 / 1e3:.1f} ms, {len(latencies) / elapsed:.0f} orders/s overall, {failures} not FILLED"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
