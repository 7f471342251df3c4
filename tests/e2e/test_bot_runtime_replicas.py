"""Two trading_svc replicas run the bots; one is SIGKILLed mid-run.

Both consume ticks; one leads the scheduler. The leader is killed while bots are ticking
every second (exchange_sim at 60x). The survivor takes the leadership over (the lock's TTL,
3 s here), reclaims the ticks the dead one had read but not acknowledged (XAUTOCLAIM), and
every tick is processed exactly once: each subscription's decision records cover every
candle from its first to its last without a gap or a duplicate (candles that closed while
no one led are recorded as SKIPPED STALE_CANDLE), none stays claimed, the tick stream has
nothing pending, and every bot order belongs to exactly one decision.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from datetime import datetime, timedelta

import httpx
import redis.asyncio as aioredis
import sqlalchemy as sa

from mesh.db import make_engine
from tests.e2e.private_mesh import PrivateMeshes
from tests.e2e.runtime_support import eventually, keys_of, rent_quick_bot, start_runtime_mesh
from trading_svc.runtime.queue import GROUP, TICKS
from trading_svc.runtime.scheduler import LEADER_KEY
from trading_svc.tables import bot_decisions, orders

BOTS = 3


async def test_a_sigkilled_leader_loses_no_tick_and_repeats_none(
    private_meshes: PrivateMeshes,
) -> None:
    mesh = start_runtime_mesh(private_meshes, trading_svc=2)
    keys = await keys_of(mesh)
    redis = aioredis.Redis.from_url(mesh.settings.redis_url, decode_responses=True)
    engine = make_engine(mesh.settings.database_url)
    try:
        async with httpx.AsyncClient(base_url=mesh.rest_url, timeout=30) as rest:
            sids = [(await rent_quick_bot(rest, mesh, keys))[1] for _ in range(BOTS)]

        async def decided() -> int:
            async with engine.connect() as conn:
                return int(
                    (
                        await conn.execute(
                            sa.select(sa.func.count()).where(
                                bot_decisions.c.subscription_id.in_(sids),
                                bot_decisions.c.state == "done",
                            )
                        )
                    ).scalar_one()
                )

        await eventually(lambda: _at_least(decided, 3 * BOTS), "ticks before the kill")
        leader = str(await redis.get(LEADER_KEY)).split(":", 1)[0]
        assert leader in ("trading_svc-0", "trading_svc-1")
        survivor = "trading_svc-1" if leader == "trading_svc-0" else "trading_svc-0"
        before = await decided()
        mesh.kill(leader)

        async def survivor_leads() -> bool:
            return str(await redis.get(LEADER_KEY) or "").startswith(survivor + ":")

        await eventually(survivor_leads, "the survivor's leadership", timeout_s=30)
        await eventually(lambda: _at_least(decided, before + 5 * BOTS), "ticks after the kill")
        # Past the reclaim idle limit (3 s), every tick the dead consumer held is done.
        await asyncio.sleep(5)

        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(
                        bot_decisions.c.subscription_id,
                        bot_decisions.c.candle_time,
                        bot_decisions.c.state,
                        bot_decisions.c.order_id,
                    ).where(bot_decisions.c.subscription_id.in_(sids))
                )
            ).all()
            bot_orders = (
                await conn.execute(
                    sa.select(orders.c.order_id, orders.c.tick_key).where(
                        orders.c.subscription_id.in_(sids), orders.c.source == "bot"
                    )
                )
            ).all()
        newest = {sid: max(r.candle_time for r in rows if r.subscription_id == sid) for sid in sids}
        in_flight = {
            f"{r.subscription_id}:{int(r.candle_time.timestamp() * 1000)}"
            for r in rows
            if r.state != "done"
        }
        stuck = [
            r for r in rows if r.state != "done" and r.candle_time != newest[r.subscription_id]
        ]
        assert not stuck, "no claim left behind: only the newest candle may still be deciding"
        by_sub: dict[str, list[datetime]] = defaultdict(list)
        for r in rows:
            by_sub[r.subscription_id].append(r.candle_time)
        for sid, times in by_sub.items():
            times.sort()
            assert len(times) == len(set(times)), f"{sid}: a candle decided twice"
            gaps = [b - a for a, b in itertools.pairwise(times) if b - a != timedelta(minutes=1)]
            assert not gaps, f"{sid}: candles without a decision: {gaps}"
        decided_orders = [r.order_id for r in rows if r.order_id]
        assert len(decided_orders) == len(set(decided_orders))
        undecided = {o.order_id for o in bot_orders} - set(decided_orders)
        assert all(o.tick_key in in_flight for o in bot_orders if o.order_id in undecided)
        assert len({o.tick_key for o in bot_orders}) == len(bot_orders), "one order per tick"
        pending = await redis.xpending(TICKS, GROUP)
        assert int(pending["pending"]) <= BOTS, "the dead consumer's ticks were reclaimed"
    finally:
        await redis.aclose()
        await engine.dispose()


async def _at_least(count, n: int) -> bool:  # type: ignore[no-untyped-def]
    return bool(await count() >= n)
