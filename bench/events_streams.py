"""StreamEvents fan-out: N concurrent event streams on ONE trading_svc process, gRPC straight
to it, one subscription per stream (so the hub's one XREAD names N keys), while events are
published at `--rate` per second in all, round robin over the subscriptions, with the real
EventLog. Reports events delivered against expected, delivery lag p50/p99 (receive time
minus the event's time), server RSS per stream, the server's CPU, and how many Redis
connections were blocked in XREAD meanwhile.

    .venv/bin/python bench/events_streams.py --streams 1000 --rate 500 --duration 20

Starts its own mesh on free ports (MariaDB database botmesh_bench_events, Redis DB
`--redis-db`). One subscription is made through the real API (bench/subscriptions.py), then
copied in the table to N. Every stream starts from a marker published before any stream
opens, so an event published while streams still connect is delivered too, and delivered
must equal expected.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "gen")]

from bench.getbot import cpu_seconds, percentiles_us  # noqa: E402
from bench.streams import rss_kib  # noqa: E402
from bench.subscriptions import Renter, prepare  # noqa: E402
from bench.world import bench_env, drop_database, fresh_database  # noqa: E402
from cli.launcher import Mesh, mesh_env, service_address  # noqa: E402

DATABASE = "botmesh_bench_events"
STREAMS_PER_CHANNEL = 100
HEARTBEAT_S = 5


def worker(
    target: str,
    headers: dict[str, str],
    subs: list[str],
    after: str,
    ramp_per_s: float,
    until: float,
    out: mp.Queue,  # type: ignore[type-arg]
) -> None:
    import grpc
    from botmesh.trading.v1 import trading_service_pb2 as api
    from botmesh.trading.v1 import trading_service_pb2_grpc as rpc

    async def run() -> None:
        lags: list[float] = []
        opened: list[float] = []  # seconds from the call to its first heartbeat, less HEARTBEAT_S
        errors: dict[str, int] = {}
        delivered = 0
        # A connection each (a local subchannel pool): channels to one target otherwise
        # share one HTTP/2 connection, and its concurrent-stream cap queues the rest.
        channels = [
            grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
            for _ in range(max(1, -(-len(subs) // STREAMS_PER_CHANNEL)))
        ]
        metadata = tuple(headers.items())

        async def one(i: int, sub: str) -> None:
            nonlocal delivered
            await asyncio.sleep(i / ramp_per_s)
            stub = rpc.TradingServiceStub(channels[i % len(channels)])
            call = stub.StreamEvents(
                api.StreamEventsRequest(subscription_id=sub, after=after), metadata=metadata
            )
            asked = time.time()
            first = True
            try:
                async for item in call:
                    now = time.time()
                    if first and item.HasField("heartbeat"):
                        opened.append(now - asked - HEARTBEAT_S)
                    first = False
                    if item.HasField("event"):
                        delivered += 1
                        lags.append((now - item.event.time.ToNanoseconds() / 1e9) * 1e6)
                    if now > until:
                        call.cancel()
                        return
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.CANCELLED:
                    errors[exc.code().name] = errors.get(exc.code().name, 0) + 1

        tasks = [asyncio.create_task(one(i, s)) for i, s in enumerate(subs)]
        await asyncio.wait(tasks, timeout=max(1.0, until - time.time()) + 30)
        for channel in channels:
            await channel.close()
        out.put((delivered, errors, lags, opened))

    asyncio.run(run())


def clone_subscriptions(admin: Any, source: str, count: int) -> list[str]:
    """`count` copies of the subscription row `source` (same renter, credential and bot)."""
    ids = [f"sub_evbench_{i:06d}" for i in range(count)]
    with admin.cursor() as cur:
        cur.execute(f"SELECT * FROM {DATABASE}.subscriptions WHERE subscription_id=%s", (source,))
        row = cur.fetchone()
        cols = [d[0] for d in cur.description]
        at = cols.index("subscription_id")
        rows = [(*row[:at], sid, *row[at + 1 :]) for sid in ids]
        names = ", ".join(f"`{c}`" for c in cols)
        marks = ", ".join(["%s"] * len(cols))
        cur.executemany(f"INSERT INTO {DATABASE}.subscriptions ({names}) VALUES ({marks})", rows)
    return ids


async def publish(redis_url: str, subs: list[str], rate: float, seconds: float) -> int:
    """Events at `rate` per second for `seconds`, round robin over `subs`; answers how many
    were published."""
    from botmesh.trading.v1 import resources_pb2 as pb

    from mesh.redis import make_redis
    from trading_svc.events.log import EventLog

    redis = make_redis(redis_url)
    log = EventLog(redis, maxlen=10_000)
    sent = 0
    start = time.monotonic()
    try:
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate) + 1
            while sent < due:
                decision = pb.Decision(action="hold", outcome="HELD", reason="BENCH")
                if await log.publish(subs[sent % len(subs)], pb.BotEvent(decision=decision)):
                    sent += 1
            await asyncio.sleep(max(0.0, (sent / rate) - (time.monotonic() - start)))
    finally:
        await redis.aclose()
    return sent


async def blocked_xreads(redis_url: str, db: int, samples: int = 20) -> int:
    """The most connections of Redis DB `db` seen blocked in XREAD at once."""
    from mesh.redis import make_redis

    redis = make_redis(redis_url)
    seen = 0
    try:
        for _ in range(samples):
            clients = await redis.client_list()
            seen = max(
                seen,
                sum(
                    1
                    for c in clients
                    if str(c.get("db")) == str(db)
                    and "b" in c.get("flags", "")
                    and c.get("cmd") == "xread"
                ),
            )
            await asyncio.sleep(0.05)
    finally:
        await redis.aclose()
    return seen


async def marker(redis_url: str, subs: list[str]) -> str:
    """An event on every stream; the newest id is where every stream starts."""
    from botmesh.trading.v1 import resources_pb2 as pb

    from mesh.redis import make_redis
    from trading_svc.events.log import EventLog

    redis = make_redis(redis_url)
    log = EventLog(redis, maxlen=10_000)
    newest = "0"
    try:
        for sub in subs:
            newest = await log.publish(sub, pb.BotEvent(decision=pb.Decision())) or newest
    finally:
        await redis.aclose()
    return newest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=500, help="events per second, in all")
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ramp", type=float, default=500, help="new streams per second")
    parser.add_argument("--redis-db", type=int, default=12)
    args = parser.parse_args()

    admin = fresh_database(DATABASE)
    state = Path(tempfile.mkdtemp(prefix="botmesh-events-"))
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    overrides = bench_env(state, DATABASE, redis_url)
    overrides["BOTMESH_STREAM_HEARTBEAT_S"] = str(HEARTBEAT_S)
    os.environ.update(overrides)
    from mesh.settings import load_settings

    settings = load_settings()
    mesh = Mesh(settings, mesh_env())
    try:
        mesh.migrate()
        mesh.start_services()
        mesh.start_gateway()
        renter: Renter = asyncio.run(prepare(settings, f"http://127.0.0.1:{settings.envoy_port}"))
        subs = clone_subscriptions(admin, renter.subscription_id, args.streams)
        after = asyncio.run(marker(redis_url, subs))
        host, port = service_address(settings, "trading_svc")
        pid = mesh.processes["trading_svc"].pid
        idle_rss = rss_kib(pid)
        until = time.time() + args.warmup + args.duration + 3
        spawn = mp.get_context("spawn")  # the parent already used gRPC: no fork
        out: mp.Queue = spawn.Queue()  # type: ignore[type-arg]
        shares = [subs[i :: args.workers] for i in range(args.workers)]
        procs = [
            spawn.Process(
                target=worker,
                args=(
                    f"{host}:{port}",
                    renter.headers,
                    share,
                    after,
                    args.ramp / args.workers,
                    until,
                    out,
                ),
            )
            for share in shares
        ]
        for proc in procs:
            proc.start()
        time.sleep(args.warmup)
        loaded_rss = rss_kib(pid)
        blocked = asyncio.run(blocked_xreads(redis_url, args.redis_db))
        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        published = asyncio.run(publish(redis_url, subs, args.rate, args.duration))
        cpu = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - wall_before)
        delivered, lags, opened, errors = 0, [], [], {}  # type: ignore[var-annotated]
        for _ in procs:
            got, errs, lag, opens = out.get(timeout=120)
            delivered += got
            lags += lag
            opened += opens
            for code, n in errs.items():
                errors[code] = errors.get(code, 0) + n
        for proc in procs:
            proc.join(timeout=30)
    finally:
        mesh.stop()
        drop_database(admin, DATABASE)
    if not lags:
        print("no events received", file=sys.stderr)
        return 1
    p50, p99 = percentiles_us(lags)
    print(
        f"StreamEvents fan-out: {args.streams} streams on one trading_svc process, "
        f"{args.rate:.0f} events/s for {args.duration:.0f}s, one subscription per stream"
    )
    if opened:
        o50, o99 = percentiles_us([o * 1e6 for o in opened])
        print(
            f"stream open (call to joined, from the first heartbeat): p50 {o50 / 1e3:.0f} ms, "
            f"p99 {o99 / 1e3:.0f} ms ({len(opened)} streams)"
        )
    print(f"delivered {delivered} of {published} published (each to its one stream)")
    print(f"delivery lag p50 {p50 / 1e3:.1f} ms, p99 {p99 / 1e3:.1f} ms ({len(lags)} samples)")
    print(
        f"server RSS {idle_rss / 1024:.0f} MiB idle -> {loaded_rss / 1024:.0f} MiB: "
        f"{(loaded_rss - idle_rss) / max(1, args.streams):.1f} KiB per stream"
    )
    print(f"server CPU {cpu * 100:.0f}% of one core while publishing")
    print(f"Redis connections blocked in XREAD (all services of this mesh): at most {blocked}")
    print(f"stream errors: {errors or 'none'}")
    return 0 if delivered == published and not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
