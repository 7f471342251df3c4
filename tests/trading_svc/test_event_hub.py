"""The event hub against the real Redis: StreamEvents' cursor rules (backlog then live, no
gap, no duplicate), the typed publishers, slow listeners, and one reader per process however
many streams are open."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator

import pytest
from botmesh.trading.v1 import resources_pb2 as pb
from botmesh.trading.v1 import trading_service_pb2 as tr
from redis.asyncio import Redis

from mesh.redis import make_redis
from mesh.settings import Settings
from trading_svc.events.hub import EventHub
from trading_svc.events.listener import PAGE, Listener
from trading_svc.events.log import EventLog
from trading_svc.servicers.frames import event_frame


def new_sub() -> str:
    return f"sub_hubt_{secrets.token_hex(6)}"


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    # Named, so CLIENT LIST tells this test's connections from everyone else's.
    client = make_redis(f"{settings.redis_url}?client_name=evhub-{secrets.token_hex(4)}")
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def log(redis: Redis) -> EventLog:
    return EventLog(redis, maxlen=100_000)


@pytest.fixture
async def hub(redis: Redis, log: EventLog) -> AsyncIterator[EventHub]:
    events = EventHub(redis, log, frame=event_frame)  # framed as StreamEvents sends them
    try:
        yield events
    finally:
        await events.close()


async def publish(log: EventLog, sub: str, count: int) -> list[str]:
    ids = []
    for i in range(count):
        event_id = await log.publish(sub, pb.BotEvent(decision=pb.Decision(reason=str(i))))
        assert event_id is not None
        ids.append(event_id)
    return ids


async def next_events(listener: Listener, wait_s: float) -> list[pb.BotEvent]:
    """The listener's next frames, read as the StreamEvents responses they are."""
    return [tr.StreamEventsResponse.FromString(f).event for f in await listener.next(wait_s)]


async def collect(listener: Listener, want: int, wait_s: float = 5.0) -> list[pb.BotEvent]:
    got: list[pb.BotEvent] = []
    async with asyncio.timeout(wait_s):
        while len(got) < want:
            got.extend(await next_events(listener, 0.5))
    return got


async def test_from_the_start_reads_the_backlog_in_pages_then_live(
    log: EventLog, hub: EventHub
) -> None:
    sub = new_sub()
    before = await publish(log, sub, PAGE * 2 + 50)
    async with hub.listen(sub, "0") as listener:
        first = await next_events(listener, 1)
        assert len(first) == PAGE  # a bounded page, not the whole backlog at once
        # Published while the listener is still catching up: they follow the backlog.
        during = await publish(log, sub, 30)
        rest = await collect(listener, len(before) + len(during) - PAGE)
        got = [e.event_id for e in first + rest]
        assert got == before + during
        after = await publish(log, sub, 5)
        assert [e.event_id for e in await collect(listener, 5)] == after
        assert await listener.next(0.3) == []  # nothing twice


async def test_no_cursor_means_new_events_only(log: EventLog, hub: EventHub) -> None:
    sub = new_sub()
    await publish(log, sub, 3)
    async with hub.listen(sub, "") as listener:
        assert await listener.next(0.3) == []
        fresh = await publish(log, sub, 2)
        assert [e.event_id for e in await collect(listener, 2)] == fresh


async def test_a_cursor_resumes_right_after_it(log: EventLog, hub: EventHub) -> None:
    sub = new_sub()
    ids = await publish(log, sub, 10)
    async with hub.listen(sub, ids[3]) as listener:
        assert [e.event_id for e in await collect(listener, 6)] == ids[4:]
    ms = ids[0].split("-")[0]  # "<ms>" alone means "<ms>-0"
    async with hub.listen(sub, ms) as listener:
        got = [e.event_id for e in await collect(listener, 1)]
        assert got[0] in ids and got[0] > f"{ms}-0"


async def test_a_second_listener_joining_a_live_stream_misses_nothing(
    log: EventLog, hub: EventHub
) -> None:
    sub = new_sub()
    async with hub.listen(sub, "") as early:
        first = await publish(log, sub, 20)
        assert [e.event_id for e in await collect(early, 20)] == first
        # The hub has read past these; a late listener with an older cursor gets them from
        # its own backlog, and the live ones once, from the fan-out.
        async with hub.listen(sub, first[4]) as late:
            more = await publish(log, sub, 10)
            assert [e.event_id for e in await collect(late, 25)] == first[5:] + more
            assert [e.event_id for e in await collect(early, 10)] == more
            assert await late.next(0.3) == []
        assert hub.listener_count() == 1


async def test_typed_publishers_put_each_payload_on_the_stream(
    log: EventLog, hub: EventHub
) -> None:
    sub = new_sub()
    async with hub.listen(sub, "") as listener:
        await log.decided(sub, pb.Decision(action="buy", outcome="ORDER_PLACED"))
        await log.risk_acted(
            sub,
            pb.RiskAction(rule=pb.RISK_RULE_STOP_LOSS, outcome=pb.RISK_OUTCOME_CLOSED),
        )
        await log.status_changed(sub, pb.BotStatus(state=pb.BOT_STATE_PAUSED))
        await log.performance(sub, pb.Performance(equity="1012.5"))
        got = await collect(listener, 4)
    assert [e.WhichOneof("payload") for e in got] == [
        "decision",
        "risk",
        "status",
        "performance",
    ]
    assert all(e.subscription_id == sub and e.HasField("time") for e in got)
    assert got[0].decision.outcome == "ORDER_PLACED"
    assert got[1].risk.rule == pb.RISK_RULE_STOP_LOSS
    assert got[2].status.state == pb.BOT_STATE_PAUSED
    assert got[3].performance.equity == "1012.5"


async def test_a_slow_listener_overflows_and_resumes_from_its_cursor(
    redis: Redis, log: EventLog
) -> None:
    hub = EventHub(redis, log, capacity=5, frame=event_frame)
    sub = new_sub()
    try:
        async with hub.listen(sub, "") as slow:
            ids = await publish(log, sub, 40)
            for _ in range(100):  # until the reader has read them all
                if slow.overflowed:
                    break
                await asyncio.sleep(0.05)
            assert slow.overflowed and slow.qsize() == 0  # bounded: nothing held
            got = await collect(slow, 40)
            assert [e.event_id for e in got] == ids and slow.overflows >= 1
            later = await publish(log, sub, 3)
            assert [e.event_id for e in await collect(slow, 3)] == later
    finally:
        await hub.close()


async def _blocked_xreads(redis: Redis, name: str) -> tuple[int, int]:
    """(connections of this client name blocked in XREAD now, connections in all)."""
    clients = [c for c in await redis.client_list() if c.get("name") == name]
    blocked = [c for c in clients if "b" in c.get("flags", "") and c.get("cmd") == "xread"]
    return len(blocked), len(clients)


async def test_two_hundred_streams_share_one_reader_and_each_gets_every_event(
    redis: Redis, log: EventLog, hub: EventHub
) -> None:
    name = (await redis.client_getname()) or ""
    subs = [new_sub() for _ in range(200)]
    async with contextlib.AsyncExitStack() as stack:
        listeners = [await stack.enter_async_context(hub.listen(s, "")) for s in subs]
        await asyncio.sleep(0.6)  # every key in the reader's XREAD
        samples = []
        for _ in range(10):
            samples.append(await _blocked_xreads(redis, name))
            await asyncio.sleep(0.05)
        assert max(blocked for blocked, _ in samples) == 1
        assert max(total for _, total in samples) <= 3  # the reader, this probe, spare
        published = {s: await publish(log, s, 3) for s in subs}
        got = await asyncio.gather(*(collect(li, 3) for li in listeners))
        for sub, events in zip(subs, got, strict=True):
            assert [e.event_id for e in events] == published[sub]
        assert hub.key_count() == 200
    assert hub.listener_count() == 0 and hub.key_count() == 0


async def test_an_unreadable_entry_is_skipped_and_the_reader_carries_on(
    redis: Redis, log: EventLog, hub: EventHub
) -> None:
    sub = new_sub()
    async with hub.listen(sub, "") as listener:
        await redis.xadd(f"botmesh:events:{sub}", {b"not-ours": b"x"})
        good = await publish(log, sub, 1)
        assert [e.event_id for e in await collect(listener, 1)] == good
    # The same from the backlog: read past, not stuck on it.
    async with hub.listen(sub, "0") as listener:
        assert [e.event_id for e in await collect(listener, 1)] == good
        assert await listener.next(0.3) == []
