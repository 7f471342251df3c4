"""StreamEvents fan-out on ONE trading_svc process, one subscription per stream (so the hub's
one XREAD names N keys), for a matrix of stream counts, over gRPC straight to the process and
as Server-Sent Events through Envoy. While measuring, events are published at `--rate` per
second in all, round robin over the subscriptions, with the real EventLog. For each: events
delivered against published, delivery lag p50/p99 (receive time minus the event's time), KiB
of RSS per stream (trading_svc, and Envoy for SSE), CPU, and the Redis connections blocked
in XREAD. How each configuration is measured: bench/stream_load.py.

    .venv/bin/python bench/events_streams.py                 # 1k, 5k, 10k x gRPC, SSE
    .venv/bin/python bench/events_streams.py --counts 1000 --transports grpc --rate 500

Starts its own mesh on free ports (MariaDB database botmesh_bench_events, Redis DB
`--redis-db`). One subscription is made through the real API (bench/subscriptions.py), then
copied in the table. Before each configuration a marker event is published and every stream
starts after it, so an event published while streams still connect is delivered too, and
delivered must equal published. Writes bench/results/events_streams-<time>.json.
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

from bench.stream_load import (  # noqa: E402
    Load,
    load_dict,
    measure,
    parse_counts,
    print_row,
    restart,
    write_results,
)
from bench.subscriptions import Renter, prepare  # noqa: E402
from bench.world import bench_env, drop_database, fresh_database  # noqa: E402
from cli.launcher import Mesh, mesh_env, service_address  # noqa: E402

DATABASE = "botmesh_bench_events"
METHOD = "/botmesh.trading.v1.TradingService/StreamEvents"
HEARTBEAT_S = 5


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


async def marker(redis_url: str, sub: str) -> str:
    """One event; its id is above every earlier entry of every stream (ids are Redis's clock
    in ms), so streams that start after it see only what comes next."""
    from botmesh.trading.v1 import resources_pb2 as pb

    from mesh.redis import make_redis
    from trading_svc.events.log import EventLog

    redis = make_redis(redis_url)
    try:
        newest = await EventLog(redis, maxlen=10_000).publish(sub, pb.BotEvent())
    finally:
        await redis.aclose()
    assert newest is not None
    return newest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=parse_counts, default=[1000, 5000, 10000])
    parser.add_argument("--transports", default="grpc,sse")
    parser.add_argument("--rate", type=float, default=500, help="events per second, in all")
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--ramp", type=float, default=1000, help="new streams per second")
    parser.add_argument("--redis-db", type=int, default=12)
    args = parser.parse_args()

    from botmesh.trading.v1 import trading_service_pb2 as api

    admin = fresh_database(DATABASE)
    state = Path(tempfile.mkdtemp(prefix="botmesh-events-"))
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    overrides = bench_env(state, DATABASE, redis_url)
    overrides["BOTMESH_STREAM_HEARTBEAT_S"] = str(HEARTBEAT_S)
    overrides["BOTMESH_RUNTIME_ENABLED"] = "false"  # the process serves streams only
    os.environ.update(overrides)
    from mesh.settings import load_settings

    settings = load_settings()
    mesh = Mesh(settings, mesh_env())
    rows = []
    event_field = api.StreamEventsResponse.DESCRIPTOR.fields_by_name["event"].number
    try:
        mesh.migrate()
        mesh.start_services()
        mesh.start_gateway()
        renter: Renter = asyncio.run(prepare(settings, f"http://127.0.0.1:{settings.envoy_port}"))
        every = clone_subscriptions(admin, renter.subscription_id, max(args.counts))
        host, port = service_address(settings, "trading_svc")
        for count in args.counts:
            subs = every[:count]
            for transport in args.transports.split(","):
                pids = restart(mesh, "trading_svc", envoy=transport == "sse")
                after = asyncio.run(marker(redis_url, subs[0]))
                load = Load(
                    transport=transport,
                    host=host if transport == "grpc" else "127.0.0.1",
                    port=port if transport == "grpc" else settings.envoy_port,
                    grpc_method=METHOD,
                    grpc_requests=tuple(
                        api.StreamEventsRequest(subscription_id=s, after=after).SerializeToString()
                        for s in subs
                    ),
                    sse_paths=tuple(
                        f"/v1/subscriptions/{s}/events:stream?after={after}" for s in subs
                    ),
                    headers=tuple(renter.headers.items()),
                    payload="event",
                    data_tag=(event_field << 3) | 2,
                    response="trading_service_pb2.StreamEventsResponse",
                    count=count,
                    ramp_per_s=args.ramp,
                    sample=1,
                )

                def during(seconds: float, subs: list[str] = subs) -> dict[str, Any]:
                    async def both() -> tuple[int, int]:
                        sent, blocked = await asyncio.gather(
                            publish(redis_url, subs, args.rate, seconds),
                            blocked_xreads(redis_url, args.redis_db),
                        )
                        return sent, blocked

                    sent, blocked = asyncio.run(both())
                    return {"published": sent, "blocked_xreads_max": blocked}

                row = measure(
                    load,
                    workers=args.workers,
                    warmup_s=args.warmup,
                    duration_s=args.duration,
                    pids=pids,
                    during=during,
                )
                row["load"] = load_dict(load)
                print_row(row)
                print(
                    f"       delivered {row['data_messages']} of {row['published']} published; "
                    f"blocked XREADs at most {row['blocked_xreads_max']}",
                    flush=True,
                )
                rows.append(row)
    finally:
        mesh.stop()
        drop_database(admin, DATABASE)
    path = write_results(
        "events_streams", {"method": "StreamEvents", "rate": args.rate, "rows": rows}
    )
    print(f"written to {path}")
    ok = all(r["connected"] == r["streams"] and r["data_messages"] == r["published"] for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
