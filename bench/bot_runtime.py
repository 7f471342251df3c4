"""The bot runtime under load: N rented bots over M markets on 1-minute candles, decided by
one trading_svc process (or `--replicas` of them), on exchange_sim's fast clock.

    .venv/bin/python bench/bot_runtime.py --bots 1000 --markets 20 [--replicas 2]

Starts a private mesh (fresh MariaDB database botmesh_bench_runtime, a private Redis, an
exchange_sim with M markets at `--sim-speed`, the runtime on), rents N bots through the
REST API (bench/runtime_world.py), waits until every bot has decided once, lets `--candles`
candles close and reports (bench/runtime_measure.py):
- ticks expected (every subscription x every candle of the window) vs recorded, and
  (subscription, candle) pairs recorded twice (the unique key makes that 0);
- latency per decision: from the tick's enqueue (its stream entry id) to the decision's
  complete_time, and from the candle's venue close (open + 60 s of sim time, mapped to wall
  time) to complete_time, which adds the scheduler's polling;
- analysis computations per candle vs distinct (market, strategy, params);
- CPU seconds per tick and RSS per bot of the trading_svc process(es) (psutil).
With `--replicas 2` it then SIGKILLs the scheduler's leader `--kill-lead` seconds before a
candle closes and reports the failover: the time from the kill to the survivor holding the
lock and to its first enqueue (that candle's), and the ticks of the candles since the window
(missed must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]

import httpx  # noqa: E402

from bench.runtime_measure import (  # noqa: E402
    MINUTE_MS,
    Records,
    TickStream,
    VenueClock,
    cpu_rss,
    cpu_wait,
    tick_figures,
)
from bench.runtime_report import print_report  # noqa: E402
from bench.runtime_sim import market_names  # noqa: E402
from bench.runtime_world import World, make_world  # noqa: E402
from bench.world import bench_key, drop_database, fresh_database  # noqa: E402
from cli.launcher import Mesh, free_port, port_open  # noqa: E402
from tests.e2e.degraded_support import start_mesh  # noqa: E402
from tests.private_servers import RedisServer  # noqa: E402
from tests.support import alembic, mariadb_url  # noqa: E402

DATABASE = "botmesh_bench_runtime"
RUNTIME_ENV = {
    "BOTMESH_RUNTIME_ENABLED": "true",
    "BOTMESH_RUNTIME_POLL_S": "0.2",
    "BOTMESH_RUNTIME_RECLAIM_IDLE_MS": "3000",
    "BOTMESH_RUNTIME_LOCK_TTL_MS": "3000",
    "BOTMESH_EXCHANGE_RATE_LIMIT": "false",  # ccxt's client-side throttle: the sim allows all
    "BOTMESH_RATE_LIMIT_PER_S": "100000",
    "BOTMESH_LOG_LEVEL": "WARNING",
}


class Bench:
    def __init__(self, args: argparse.Namespace, mesh: Mesh, sim_url: str, redis_url: str):
        self.args = args
        self.mesh = mesh
        self.sim_url = sim_url
        self.records = Records(connect(), DATABASE)
        self.stream = TickStream(redis_url)

    def pids(self, service: str) -> list[int]:
        return [
            p.pid
            for name, p in self.mesh.processes.items()
            if name.startswith(service) and p.poll() is None
        ]

    def wait_for(self, what: str, done: Any, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if done():
                return True
            time.sleep(0.25)
        print(f"  (gave up waiting for {what} after {timeout_s:.0f} s)", flush=True)
        return False

    def candles_closed(self, after: datetime, count: int, clock: VenueClock) -> datetime:
        """Waits until every bot decided candle `after` + `count` minutes (or a deadline of
        the candles' own time plus two minutes of drain); returns that candle."""
        target = after + timedelta(minutes=count)
        bots = self.args.bots
        self.wait_for(
            f"candle {target:%H:%M}",
            lambda: self.records.done_at(target) >= bots,
            count * clock.candle_s() + 120,
        )
        return target

    def run(self) -> dict[str, Any]:
        args = self.args
        report: dict[str, Any] = {"args": vars(args)}
        trading = self.pids("trading_svc")
        _, rss_idle = cpu_rss(trading)
        world = asyncio.run(self.setup())
        report["setup_s"] = world.setup_s
        print(f"{args.bots} subscriptions made and paid in {world.setup_s:.1f} s", flush=True)
        self.wait_for("every bot's first decision", lambda: self.records.live() >= args.bots, 300)
        clock = VenueClock.read(self.sim_url)
        start = self.records.newest_candle()
        assert start is not None, "no decision recorded"
        others = {s: self.pids(s) for s in ("analysis_svc", "credential_svc")}
        cpu0, _ = cpu_rss(trading)
        wait0 = cpu_wait(trading)
        other0 = {s: cpu_rss(p)[0] for s, p in others.items()}
        began = time.monotonic()
        end = self.candles_closed(start, args.candles, clock)
        elapsed = time.monotonic() - began
        cpu1, rss1 = cpu_rss(trading)
        waited = cpu_wait(trading) - wait0
        subs = list(world.subscriptions)
        window = [start + timedelta(minutes=i + 1) for i in range(args.candles)]
        enqueued, twice = self.stream.enqueued()
        ticks = tick_figures(self.records.decisions(start, end), enqueued, clock, subs, window)
        computed = self.records.computations(start, end)
        report["window"] = {
            "candles": [c.isoformat() for c in window],
            "wall_s": elapsed,
            **ticks,
            "enqueued_twice": twice,
            "duplicates": self.records.duplicates(),
            "analysis_computations_per_candle": [computed.get(c, 0) for c in window],
            "distinct_market_strategy_params": world.distinct_strategies,
            "trading_cpu_s": cpu1 - cpu0,
            "trading_cpu_ms_per_tick": (cpu1 - cpu0) * 1000 / max(1, ticks["recorded"]),
            "trading_core_share": (cpu1 - cpu0) / elapsed,
            "trading_cpu_wait_s": waited,
            "other_cpu_s": {s: cpu_rss(p)[0] - other0[s] for s, p in others.items()},
            "trading_rss_mb": rss1 / 2**20,
            "trading_rss_idle_mb": rss_idle / 2**20,
            "trading_rss_kb_per_bot": (rss1 - rss_idle) / 1024 / args.bots,
        }
        if args.replicas > 1:
            report["failover"] = self.failover(world, end, clock)
        report["duplicates_total"] = self.records.duplicates()
        report["outcomes_total"] = self.records.outcomes()
        return report

    async def setup(self) -> World:
        settings = self.mesh.settings
        keys = {
            scope: await bench_key(settings, scope, name=scope)
            for scope in ("marketplace", "bots:write")
        }
        async with httpx.AsyncClient(base_url=self.mesh.rest_url, timeout=60) as rest:
            return await make_world(
                rest,
                self.sim_url,
                keys,
                bots=self.args.bots,
                markets=market_names(self.args.markets),
                principals=self.args.principals,
                quick_every=self.args.quick_every,
                concurrency=self.args.concurrency,
            )

    def failover(self, world: World, after: datetime, clock: VenueClock) -> dict[str, Any]:
        """SIGKILL the leader `--kill-lead` seconds before a candle closes: the survivor must
        take the lock (within its TTL), enqueue that candle and the next ones, and every
        tick must be decided. The gap is from the kill to the survivor's first enqueue."""
        leader = self.stream.leader()
        now_sim = clock.sim_ms + (time.time() * 1000 - clock.wall_ms) * clock.speed
        close_sim = (int(now_sim) // MINUTE_MS + 1) * MINUTE_MS
        if clock.wall_of(close_sim) / 1000 - time.time() < self.args.kill_lead + 0.5:
            close_sim += MINUTE_MS
        close_wall_ms = clock.wall_of(close_sim)
        time.sleep(max(0.0, close_wall_ms / 1000 - self.args.kill_lead - time.time()))
        killed_ms = time.time() * 1000
        self.mesh.kill(leader)
        print(f"SIGKILLed the leader {leader}", flush=True)
        led_ms = enqueue_ms = 0.0
        deadline = time.monotonic() + 120
        while (not led_ms or not enqueue_ms) and time.monotonic() < deadline:
            if not led_ms and self.stream.leader() not in ("", leader):
                led_ms = time.time() * 1000
            if not enqueue_ms and self.stream.last_enqueue_ms() > killed_ms:
                enqueue_ms = float(self.stream.last_enqueue_ms())
            time.sleep(0.02)
        # The database answers naive UTC datetimes; so are the candles here.
        closing = datetime.fromtimestamp((close_sim - MINUTE_MS) / 1000, UTC).replace(tzinfo=None)
        end = self.candles_closed(closing, self.args.after_kill, clock)
        minutes = int((end - after).total_seconds() // 60)
        window = [after + timedelta(minutes=i + 1) for i in range(minutes)]
        enqueued, _ = self.stream.enqueued()
        rows = self.records.decisions(after, end)
        subs = list(world.subscriptions)
        return {
            "killed": leader,
            "new_leader": self.stream.leader(),
            "kill_before_close_s": (close_wall_ms - killed_ms) / 1000,
            "kill_to_new_leader_s": (led_ms - killed_ms) / 1000 if led_ms else None,
            "kill_to_next_enqueue_s": (enqueue_ms - killed_ms) / 1000 if enqueue_ms else None,
            "close_to_next_enqueue_s": (enqueue_ms - close_wall_ms) / 1000 if enqueue_ms else None,
            "candles": [c.isoformat() for c in window],
            **tick_figures(rows, enqueued, clock, subs, window),
        }


def connect() -> Any:
    import pymysql

    return pymysql.connect(host="127.0.0.1", user="root", autocommit=True)


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bots", type=int, default=1000)
    p.add_argument("--markets", type=int, default=20)
    p.add_argument("--candles", type=int, default=10, help="candles measured")
    p.add_argument("--sim-speed", type=float, default=60.0, help="exchange_sim clock factor")
    p.add_argument("--replicas", type=int, default=1, help="trading_svc processes")
    p.add_argument("--after-kill", type=int, default=4, help="candles observed after the kill")
    p.add_argument("--kill-lead", type=float, default=1.0, help="kill this long before a close")
    p.add_argument("--principals", type=int, default=50, help="renters, one account each")
    p.add_argument("--quick-every", type=int, default=10, help="every n-th bot trades often")
    p.add_argument("--concurrency", type=int, default=16, help="setup requests in flight")
    p.add_argument("--keep", action="store_true", help="keep the database for a look after")
    return p.parse_args()


def main() -> int:
    args = parse()
    admin = fresh_database(DATABASE)
    url = mariadb_url(DATABASE)
    migrated = alembic(url, "upgrade", "head")
    assert migrated.returncode == 0, migrated.stderr
    state = Path(tempfile.mkdtemp(prefix="botmesh-bench-runtime-"))
    redis_server = RedisServer(state / "redis")
    redis_server.start()
    sim_port = free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    with (state / "exchange_sim.log").open("ab") as log:
        sim = subprocess.Popen(
            [
                *(sys.executable, "-m", "bench.runtime_sim", "--port", str(sim_port)),
                *("--speed", str(args.sim_speed), "--markets", str(args.markets)),
            ],
            cwd=ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    mesh: Mesh | None = None
    try:
        deadline = time.monotonic() + 20
        while not port_open("127.0.0.1", sim_port):
            assert sim.poll() is None and time.monotonic() < deadline, "exchange_sim did not start"
            time.sleep(0.1)
        mesh = start_mesh(
            state / "mesh",
            database_url=url,
            redis_url=redis_server.url,
            replicas={"trading_svc": args.replicas} if args.replicas > 1 else None,
            env={**RUNTIME_ENV, "BOTMESH_EXCHANGE_SIM_URL": sim_url},
        )
        report = Bench(args, mesh, sim_url, redis_server.url).run()
        report["logs"] = str(mesh.log_dir)
    finally:
        if mesh is not None:
            mesh.stop()
        sim.terminate()
        sim.wait(timeout=10)
        redis_server.stop()
        if not args.keep:
            drop_database(admin, DATABASE)
    print_report(report)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    suffix = f"_r{args.replicas}" if args.replicas > 1 else ""
    (out / f"bot_runtime{suffix}.json").write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
