"""Bot events through Envoy, over gRPC and SSE: the `after` cursor (from the start, from an
event, new only), resumption without loss or duplicates, and many concurrent streams on the
one trading_svc process served by one Redis reader. Events are published with the real
EventLog against the mesh's Redis, as the bot runtime publishes them."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from botmesh.trading.v1 import resources_pb2 as pb
from botmesh.trading.v1 import trading_service_pb2 as tr
from botmesh.trading.v1 import trading_service_pb2_grpc as tr_rpc
from redis.asyncio import Redis

from cli.launcher import Mesh
from exchange_sim import AdminClient, SimServer
from mesh.redis import make_redis
from mesh.settings import Settings
from tests.e2e.trading_support import Account, open_account
from trading_svc.events.log import EventLog


@pytest.fixture
async def admin(exchange_sim: SimServer) -> AsyncIterator[AdminClient]:
    async with exchange_sim.admin() as client:
        yield client


@pytest.fixture
async def channel(mesh: Mesh) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{mesh.settings.envoy_port}") as ch:
        yield ch


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = make_redis(settings.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def publish_kinds(log: EventLog, sub: str, rounds: int) -> None:
    """Every kind the bot runtime publishes, `rounds` times over."""
    for i in range(rounds):
        await log.decided(sub, pb.Decision(action="hold", outcome="HELD", reason=str(i)))
        await log.risk_acted(sub, pb.RiskAction(rule=pb.RISK_RULE_COOLDOWN, message=str(i)))
        await log.status_changed(sub, pb.BotStatus(state=pb.BOT_STATE_RUNNING))
        await log.performance(sub, pb.Performance(equity=f"{1000 + i}"))


async def ids_after(log: EventLog, redis: Redis, sub: str, after: str) -> list[str]:
    """What the stream holds after `after`, read straight from Redis."""
    entries = await redis.xrange(f"botmesh:events:{sub}", f"({after}", "+")
    return [e[0].decode() for e in entries]


async def grpc_until_heartbeat(
    stub: tr_rpc.TradingServiceStub, account: Account, after: str, stop_after: int = 0
) -> list[pb.BotEvent]:
    """Events until the first heartbeat that follows them (the stream is idle: nothing more
    is coming), or until `stop_after` events when set."""
    got: list[pb.BotEvent] = []
    call = stub.StreamEvents(
        tr.StreamEventsRequest(subscription_id=account.subscription_id, after=after),
        metadata=tuple(account.headers.items()),
    )
    async for item in call:
        if item.HasField("event"):
            got.append(item.event)
            if len(got) == stop_after:
                break
        elif got or not stop_after:
            break
    call.cancel()
    return got


async def sse_until_heartbeat(rest: httpx.AsyncClient, account: Account, after: str) -> list:  # type: ignore[type-arg]
    got = []
    async with rest.stream(
        "GET",
        account.path("/events:stream"),
        params={"after": after},
        headers=account.headers,
        timeout=15,
    ) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        async for line in resp.aiter_lines():
            if line.startswith("data: "):
                item = json.loads(line[len("data: ") :])
                if "heartbeat" in item:
                    break
                got.append(item["event"])
    return got


async def test_grpc_and_sse_resume_from_a_cursor_without_loss_or_duplicates(
    rest: httpx.AsyncClient,
    channel: grpc.aio.Channel,
    keys: dict[str, str],
    engine,  # type: ignore[no-untyped-def]
    admin: AdminClient,
    redis: Redis,
) -> None:
    account = await open_account(rest, keys, engine, admin)
    sub = account.subscription_id
    log = EventLog(redis, maxlen=10_000)
    stub = tr_rpc.TradingServiceStub(channel)
    await publish_kinds(log, sub, 3)

    # From the start, a reader stops after five events: its cursor is the fifth.
    first = await asyncio.wait_for(grpc_until_heartbeat(stub, account, "0", stop_after=5), 10)
    assert [e.event_id for e in first] == (await ids_after(log, redis, sub, "0"))[:5]
    kinds = [e.WhichOneof("payload") for e in first]
    assert kinds == ["decision", "risk", "status", "performance", "decision"]
    cursor = first[-1].event_id

    # More happen while no one listens; resuming from the cursor gets each once, in order.
    await publish_kinds(log, sub, 2)
    expected = await ids_after(log, redis, sub, cursor)
    assert len(expected) == 12 - 5 + 8
    resumed = await asyncio.wait_for(grpc_until_heartbeat(stub, account, cursor), 15)
    assert [e.event_id for e in resumed] == expected
    assert resumed[-1].performance.equity == "1001"

    # SSE through Envoy reads the same stream from the same cursor, the same way.
    over_sse = await asyncio.wait_for(sse_until_heartbeat(rest, account, cursor), 15)
    assert [e["event_id"] for e in over_sse] == expected
    assert over_sse[0]["subscription_id"] == sub and "risk" in over_sse[0]

    # Live: a stream at the tail gets exactly what is published after it joined.
    tail = expected[-1]
    live = asyncio.create_task(grpc_until_heartbeat(stub, account, tail, stop_after=4))
    await asyncio.sleep(0.5)
    await publish_kinds(log, sub, 1)
    got = await asyncio.wait_for(live, 10)
    assert [e.event_id for e in got] == await ids_after(log, redis, sub, tail)


async def _blocked_xreads(redis: Redis, db: int) -> int:
    """Connections of this run's Redis DB blocked in XREAD right now."""
    clients = await redis.client_list()
    return sum(
        1
        for c in clients
        if str(c.get("db")) == str(db) and "b" in c.get("flags", "") and c.get("cmd") == "xread"
    )


async def test_two_hundred_streams_on_one_process_use_one_redis_reader(
    rest: httpx.AsyncClient,
    channel: grpc.aio.Channel,
    keys: dict[str, str],
    engine,  # type: ignore[no-untyped-def]
    admin: AdminClient,
    redis: Redis,
    settings: Settings,
) -> None:
    accounts = [await open_account(rest, keys, engine, admin) for _ in range(4)]
    db = int(settings.redis_url.rsplit("/", 1)[1])
    log = EventLog(redis, maxlen=10_000)
    stub = tr_rpc.TradingServiceStub(channel)
    markers = {
        a.subscription_id: await log.publish(a.subscription_id, pb.BotEvent(decision=pb.Decision()))
        for a in accounts
    }
    baseline = max([await _blocked_xreads(redis, db) for _ in range(5)])

    calls = []
    for account in accounts * 50:
        cursor = markers[account.subscription_id]
        assert cursor is not None
        calls.append(
            (
                account,
                stub.StreamEvents(
                    tr.StreamEventsRequest(subscription_id=account.subscription_id, after=cursor),
                    metadata=tuple(account.headers.items()),
                ),
            )
        )
    try:
        await asyncio.sleep(1.5)  # every stream open and joined
        samples = []
        for _ in range(10):
            samples.append(await _blocked_xreads(redis, db))
            await asyncio.sleep(0.05)
        # 200 streams: at most one more connection blocked in XREAD than before (the
        # hub's reader), not 200.
        assert max(samples) <= baseline + 1, (baseline, samples)

        for account in accounts:
            await publish_kinds(log, account.subscription_id, 2)

        async def eight(call: grpc.aio.UnaryStreamCall) -> list[str]:  # type: ignore[type-arg]
            got: list[str] = []
            async for item in call:
                if item.HasField("event"):
                    got.append(item.event.event_id)
                    if len(got) == 8:
                        break
            return got

        got = await asyncio.wait_for(asyncio.gather(*(eight(c) for _, c in calls)), 30)
        for (account, _), ids in zip(calls, got, strict=True):
            marker = markers[account.subscription_id]
            assert ids == await ids_after(log, redis, account.subscription_id, str(marker))
    finally:
        for _, call in calls:
            with contextlib.suppress(Exception):
                call.cancel()
