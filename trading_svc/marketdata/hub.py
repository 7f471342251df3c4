"""Fan-out of live prices inside one process, from ONE Redis subscription.

Feeds publish serialised Tickers on one channel per (exchange, market) (names in keys.py).
The hub holds a single pub/sub connection for the whole process and subscribes it to a pair's
channel while at least one local stream wants that pair; the same market on two exchanges is
two channels and two feeds.

Rules kept:
- each message is turned into its frame once per process (`frame`: the serialised stream
  response, servicers/frames.py) and that one bytes object is handed to every local
  consumer's LatestSlot: ten thousand streams cost ten thousand slot writes per tick, not ten
  thousand serialisations or Redis subscriptions, and a stalled stream holds at most a
  reference to one frame;
- a new stream starts with the newest frame: the one the hub last fanned out for its pair
  (kept while the pair has consumers), else the pair's latest ticker in Redis (a GET only
  before the pair's first message since it gained consumers);
- a message (or a latest ticker in Redis) that is not a ticker is skipped (logged), never
  fatal to the reader or to a new stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import cast

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from trading_svc.marketdata.keys import Pair, channel, latest_key, pair_of_channel
from trading_svc.marketdata.slot import LatestSlot

log = logging.getLogger("botmesh.trading.prices")


Frame = bytes
# A serialised Ticker (as feeds publish it) -> what streams send; raises on junk.
Framer = Callable[[bytes], Frame]


def _same(ticker: bytes) -> Frame:
    return ticker


class PriceHub:
    def __init__(
        self,
        redis: Redis,
        on_demand: Callable[[Pair, int], None] | None = None,
        frame: Framer = _same,
    ) -> None:
        self._redis = redis
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._consumers: dict[Pair, set[LatestSlot[Frame]]] = {}
        self._latest: dict[Pair, Frame] = {}  # the last frame fanned out, per pair in use
        self._frame = frame
        self._lock = asyncio.Lock()
        # Told (pair, local consumer count) when demand changes: starts/stops feeds.
        self._on_demand = on_demand

    def queue_sizes(self) -> list[int]:
        """Per-consumer queue sizes (each 0 or 1, by construction)."""
        return [slot.qsize() for slots in self._consumers.values() for slot in slots]

    def consumer_count(self, pair: Pair | None = None) -> int:
        if pair is not None:
            return len(self._consumers.get(pair, ()))
        return sum(len(s) for s in self._consumers.values())

    @contextlib.asynccontextmanager
    async def subscribe(self, pair: Pair) -> AsyncIterator[LatestSlot[Frame]]:
        slot: LatestSlot[Frame] = LatestSlot()
        await self._add(pair, slot)
        try:
            latest = self._latest.get(pair)
            if latest is None:
                cached = await self._redis.get(latest_key(pair))
                if cached is not None:
                    latest = self._framed(cast(bytes, cached))
            if latest is not None and slot.qsize() == 0:
                slot.put(latest)
            yield slot
        finally:
            await self._remove(pair, slot)

    async def _add(self, pair: Pair, slot: LatestSlot[Frame]) -> None:
        async with self._lock:
            slots = self._consumers.setdefault(pair, set())
            slots.add(slot)
            if len(slots) == 1:
                try:
                    pubsub = await self._ensure_pubsub()
                    await pubsub.subscribe(channel(pair))
                except BaseException:  # Redis down: the stream fails; the next one retries
                    slots.discard(slot)
                    self._consumers.pop(pair, None)
                    raise
            count = len(slots)
        if self._on_demand is not None:
            self._on_demand(pair, count)

    async def _remove(self, pair: Pair, slot: LatestSlot[Frame]) -> None:
        async with self._lock:
            slots = self._consumers.get(pair, set())
            slots.discard(slot)
            count = len(slots)
            if not slots:
                self._consumers.pop(pair, None)
                self._latest.pop(pair, None)
                if self._pubsub is not None:
                    with contextlib.suppress(Exception):
                        await self._pubsub.unsubscribe(channel(pair))
        if self._on_demand is not None:
            self._on_demand(pair, count)

    async def _ensure_pubsub(self) -> PubSub:
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read())
        return self._pubsub

    async def _read(self) -> None:
        """The one reader of the one subscription; after a Redis outage the client
        reconnects and resubscribes every channel itself (logged once per outage)."""
        failing = False
        while True:
            pubsub = self._pubsub
            if pubsub is None:
                return
            try:
                if not pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                message = await pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    log.warning(
                        "price subscription failed; retrying",
                        extra={"fields": {"error": type(exc).__name__}},
                    )
                failing = True
                await asyncio.sleep(1)
                continue
            if failing:
                log.info("price subscription restored")
                failing = False
            if message is None or message.get("type") != "message":
                continue
            self._dispatch(message["channel"], message["data"])

    def _dispatch(self, raw_channel: bytes | str, data: bytes) -> None:
        name = raw_channel.decode() if isinstance(raw_channel, bytes) else raw_channel
        pair = pair_of_channel(name)
        slots = self._consumers.get(pair) if pair is not None else None
        if not slots or pair is None:
            return
        frame = self._framed(data)  # once per process, shared by every stream
        if frame is None:
            return
        self._latest[pair] = frame
        for slot in slots:
            slot.put(frame)

    def _framed(self, ticker: bytes) -> Frame | None:
        try:
            return self._frame(ticker)
        except Exception:
            log.warning("skipped a price message that is not a ticker")
            return None

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        self._pubsub = None
