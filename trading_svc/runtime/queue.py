"""Ticks as entries of one Redis Stream, consumed by a consumer group.

The scheduler's leader appends one entry per (subscription, closed candle) (`enqueue`).
Every trading_svc process reads new entries as a consumer of the group `runtime`, named by
its replica id (`read`), and acknowledges an entry once its tick is decided (`ack`). An
entry read by a consumer that died stays pending under its name; any live consumer takes
it over after it has been idle for `reclaim_idle_ms` (`reclaim`, XAUTOCLAIM). Delivery is
thus at least once; the decision record (runtime/decisions.py) makes the effect exactly
once. The stream is capped (MAXLEN ~), far above what one round of candles enqueues.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from mesh.timestamps import from_ts, ts_ms
from trading_svc.runtime.risk import Candle

TICKS = "botmesh:runtime:ticks"
GROUP = "runtime"
# Far above one round of candles (1,000 bots on 20 markets enqueue 1,000 entries a candle):
# trimming only ever drops entries long acknowledged, unless consumers fall a thousand
# rounds behind.
MAXLEN = 1_000_000


@dataclass(frozen=True)
class Tick:
    subscription_id: str
    exchange: str
    market: str
    timeframe: str
    candle: Candle
    # A candle closed while no leader was watching: decided for the record, never traded.
    stale: bool = False
    entry_id: str = ""

    def fields(self) -> dict[str, str]:
        c = self.candle
        return {
            "s": self.subscription_id,
            "x": self.exchange,
            "m": self.market,
            "tf": self.timeframe,
            "t": str(int(c.open_time.timestamp() * 1000)),
            "o": str(c.open),
            "h": str(c.high),
            "l": str(c.low),
            "c": str(c.close),
            "stale": "1" if self.stale else "",
        }

    @classmethod
    def parse(cls, entry_id: str, f: dict[str, str]) -> Tick:
        return cls(
            subscription_id=f["s"],
            exchange=f["x"],
            market=f["m"],
            timeframe=f["tf"],
            candle=Candle(
                open_time=open_time(int(f["t"])),
                open=Decimal(f["o"]),
                high=Decimal(f["h"]),
                low=Decimal(f["l"]),
                close=Decimal(f["c"]),
            ),
            stale=bool(f.get("stale")),
            entry_id=entry_id,
        )


def open_time(ms: int) -> datetime:
    return from_ts(ts_ms(ms))


class TickQueue:
    def __init__(self, redis: Redis, reclaim_idle_ms: int) -> None:
        self._redis = redis
        self._reclaim_idle_ms = reclaim_idle_ms
        self._reclaim_cursor = "0-0"

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(TICKS, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def enqueue(self, ticks: Sequence[Tick]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for tick in ticks:
                pipe.xadd(TICKS, tick.fields(), maxlen=MAXLEN, approximate=True)  # type: ignore[arg-type]
            await pipe.execute()

    async def read(self, consumer: str, count: int, block_ms: int) -> list[Tick]:
        reply: Any = await self._redis.xreadgroup(
            GROUP, consumer, {TICKS: ">"}, count=count, block=block_ms
        )
        return [_tick(i, f) for _, entries in reply or () for i, f in entries if f]

    async def reclaim(self, consumer: str, count: int) -> list[Tick]:
        """Entries other consumers read and left unacknowledged past the idle limit."""
        reply: Any = await self._redis.xautoclaim(
            TICKS,
            GROUP,
            consumer,
            min_idle_time=self._reclaim_idle_ms,
            start_id=self._reclaim_cursor,
            count=count,
        )
        cursor, entries = reply[0], reply[1]
        self._reclaim_cursor = _text(cursor)
        return [_tick(i, f) for i, f in entries if f]

    async def ack(self, ticks: Sequence[Tick]) -> None:
        if ticks:
            await self._redis.xack(TICKS, GROUP, *(t.entry_id for t in ticks))

    async def pending(self) -> int:
        summary: Any = await self._redis.xpending(TICKS, GROUP)
        return int(summary["pending"]) if summary else 0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _tick(entry_id: Any, fields: dict[Any, Any]) -> Tick:
    return Tick.parse(_text(entry_id), {_text(k): _text(v) for k, v in fields.items()})
