"""Upstream price feeds: at most one per (exchange, market) per process, and one per pair
across the cluster (a Redis lock with a TTL picks the process that feeds; the others only
listen). The same market on two exchanges is two feeds, two locks, two channels.

A feed runs while local streams want its pair. It watches the exchange's websocket through
ccxt.pro (`watch_ticker`, full ticker stream) and falls back to REST polling when the socket
fails, then tries the socket again. Each ticker is published on the pair's channel and kept
as the pair's latest value, so a new stream starts with a price at once. The process keeps
one streaming and one REST client per exchange, shared by that exchange's feeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis.asyncio import Redis

from exchanges.clients import ClientFactory
from exchanges.symbols import to_symbol
from mesh.leader import RedisLock
from mesh.redis import OUTAGE_ERRORS
from trading_svc.marketdata.keys import Pair, channel, latest_key, lock_key
from trading_svc.marketdata.tickers import ticker_of

log = logging.getLogger("botmesh.trading.feed")
LOCK_TTL_MS = 5000
LATEST_TTL_MS = 15_000
POLL_INTERVAL_S = 1.0
POLL_ROUNDS = 10


def _fields(pair: Pair, **more: str) -> dict[str, str]:
    return {"exchange": pair.exchange, "market": pair.market, **more}


class FeedManager:
    def __init__(self, redis: Redis, factory: ClientFactory) -> None:
        self._redis = redis
        self._factory = factory
        self._tasks: dict[Pair, asyncio.Task[None]] = {}
        self._locks: dict[Pair, RedisLock] = {}
        # Per exchange id, built on first use, closed with the exchange's last feed.
        self._stream: dict[str, Any] = {}
        self._rest: dict[str, Any] = {}

    def demand(self, pair: Pair, consumers: int) -> None:
        """Called by the hub: starts a pair's feed with its first local stream, stops it
        with the last."""
        task = self._tasks.get(pair)
        if consumers > 0 and (task is None or task.done()):
            self._tasks[pair] = asyncio.create_task(self._run(pair))
        elif consumers == 0 and task is not None:
            task.cancel()
            del self._tasks[pair]

    def open_clients(self) -> set[str]:
        """The exchanges this process holds a market-data client of."""
        return {*self._stream, *self._rest}

    async def publish(self, pair: Pair, raw: dict[str, Any]) -> None:
        data = ticker_of(pair, raw).SerializeToString()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.publish(channel(pair), data)
            pipe.set(latest_key(pair), data, px=LATEST_TTL_MS)
            await pipe.execute()

    async def _run(self, pair: Pair) -> None:
        lock = self._locks.setdefault(pair, RedisLock(self._redis, lock_key(pair), LOCK_TTL_MS))
        key = lock.key
        redis_down = False
        try:
            while True:
                try:
                    if await lock.acquire():
                        log.info("feeding market", extra={"fields": _fields(pair)})
                        redis_down = False
                        await self._lead(pair, key)
                except OUTAGE_ERRORS as exc:
                    # Lock, renewals and prices all live in Redis: wait for it, then contend
                    # for the lock again, for as long as local streams want this market.
                    if not redis_down:
                        log.warning(
                            "price feed waits for redis",
                            extra={"fields": _fields(pair, error=type(exc).__name__)},
                        )
                    redis_down = True
                await asyncio.sleep(1)
        finally:
            with contextlib.suppress(Exception):
                await lock.release()
            self._locks.pop(pair, None)
            await self._release(pair.exchange)

    async def _release(self, exchange: str) -> None:
        """Closes an exchange's clients once no feed of it is wanted (a later feed builds new
        ones), so exchanges a dashboard looked at once hold no socket afterwards."""
        if any(pair.exchange == exchange for pair in self._tasks):
            return
        for clients in (self._stream, self._rest):
            client = clients.pop(exchange, None)  # popped before the await: no one reuses it
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.close()

    async def _renew(self, key: str) -> bool:
        lock = next((lk for lk in self._locks.values() if lk.key == key), None)
        return lock is not None and await lock.renew()

    async def _lead(self, pair: Pair, key: str) -> None:
        """Feeds while we hold the lock: websocket first, REST polling when it fails."""
        symbol = to_symbol(pair.market)
        while True:
            try:
                await self._watch(pair, symbol, key)
                return  # lost the lock
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "price websocket failed; polling",
                    extra={"fields": _fields(pair, error=type(exc).__name__)},
                )
            if not await self._poll(pair, symbol, key):
                return

    async def _watch(self, pair: Pair, symbol: str, key: str) -> None:
        stream = self._stream.get(pair.exchange)
        if stream is None:
            stream = self._stream[pair.exchange] = self._factory.streaming(pair.exchange)
        while True:
            ticker = await stream.watch_ticker(symbol, {"name": "ticker"})
            await self.publish(pair, ticker)
            if not await self._renew(key):
                return

    async def _poll(self, pair: Pair, symbol: str, key: str) -> bool:
        """REST fallback for a while; False when the lock was lost."""
        rest = self._rest.get(pair.exchange)
        if rest is None:
            rest = self._rest[pair.exchange] = self._factory.rest(pair.exchange)
        for _ in range(POLL_ROUNDS):
            try:
                await self.publish(pair, await rest.fetch_ticker(symbol))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info(
                    "price poll failed",
                    extra={"fields": _fields(pair, error=type(exc).__name__)},
                )
            if not await self._renew(key):
                return False
            await asyncio.sleep(POLL_INTERVAL_S)
        return True

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for client in [*self._stream.values(), *self._rest.values()]:
            with contextlib.suppress(Exception):
                await client.close()
        self._stream.clear()
        self._rest.clear()
