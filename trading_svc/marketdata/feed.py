"""Upstream price feeds: at most one per market per process, and one per market across the
cluster (a Redis lock with a TTL picks the process that feeds; the others only listen).

A feed runs while local streams want its market. It watches the exchange's websocket
through ccxt.pro (`watch_ticker`, full ticker stream) and falls back to REST polling when
the socket fails, then tries the socket again. Each ticker is published on the market's
channel and kept as the market's latest value, so a new stream starts with a price at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from redis.asyncio import Redis

from exchanges.clients import ClientFactory
from exchanges.symbols import to_symbol
from mesh.redis import OUTAGE_ERRORS
from trading_svc.convert import ticker_pb
from trading_svc.marketdata.hub import channel, latest_key

log = logging.getLogger("botmesh.trading.feed")
LOCK_TTL_MS = 5000
LATEST_TTL_MS = 15_000
POLL_INTERVAL_S = 1.0
POLL_ROUNDS = 10
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


def lock_key(market: str) -> str:
    return f"botmesh:feed-lock:{market}"


class FeedManager:
    def __init__(self, redis: Redis, factory: ClientFactory, exchange: str) -> None:
        self._redis = redis
        self._factory = factory
        self._exchange = exchange
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._token = uuid.uuid4().hex
        self._stream: Any = None
        self._rest: Any = None

    def demand(self, market: str, consumers: int) -> None:
        """Called by the hub: starts a market's feed with its first local stream, stops it
        with the last."""
        task = self._tasks.get(market)
        if consumers > 0 and (task is None or task.done()):
            self._tasks[market] = asyncio.create_task(self._run(market))
        elif consumers == 0 and task is not None:
            task.cancel()
            del self._tasks[market]

    async def publish(self, market: str, raw: dict[str, Any]) -> None:
        data = ticker_pb(market, raw).SerializeToString()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.publish(channel(market), data)
            pipe.set(latest_key(market), data, px=LATEST_TTL_MS)
            await pipe.execute()

    async def _run(self, market: str) -> None:
        key = lock_key(market)
        redis_down = False
        try:
            while True:
                try:
                    if await self._redis.set(key, self._token, nx=True, px=LOCK_TTL_MS):
                        log.info("feeding market", extra={"fields": {"market": market}})
                        redis_down = False
                        await self._lead(market, key)
                except OUTAGE_ERRORS as exc:
                    # Lock, renewals and prices all live in Redis: wait for it, then contend
                    # for the lock again, for as long as local streams want this market.
                    if not redis_down:
                        log.warning(
                            "price feed waits for redis",
                            extra={"fields": {"market": market, "error": type(exc).__name__}},
                        )
                    redis_down = True
                await asyncio.sleep(1)
        finally:
            with contextlib.suppress(Exception):
                if await self._redis.get(key) == self._token.encode():
                    await self._redis.delete(key)

    async def _renew(self, key: str) -> bool:
        return bool(await self._redis.eval(_RENEW, 1, key, self._token, LOCK_TTL_MS))

    async def _lead(self, market: str, key: str) -> None:
        """Feeds while we hold the lock: websocket first, REST polling when it fails."""
        symbol = to_symbol(market)
        while True:
            try:
                await self._watch(market, symbol, key)
                return  # lost the lock
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "price websocket failed; polling",
                    extra={"fields": {"market": market, "error": type(exc).__name__}},
                )
            if not await self._poll(market, symbol, key):
                return

    async def _watch(self, market: str, symbol: str, key: str) -> None:
        if self._stream is None:
            self._stream = self._factory.streaming(self._exchange)
        while True:
            ticker = await self._stream.watch_ticker(symbol, {"name": "ticker"})
            await self.publish(market, ticker)
            if not await self._renew(key):
                return

    async def _poll(self, market: str, symbol: str, key: str) -> bool:
        """REST fallback for a while; False when the lock was lost."""
        if self._rest is None:
            self._rest = self._factory.rest(self._exchange)
        for _ in range(POLL_ROUNDS):
            try:
                await self.publish(market, await self._rest.fetch_ticker(symbol))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info(
                    "price poll failed",
                    extra={"fields": {"market": market, "error": type(exc).__name__}},
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
        for client in (self._stream, self._rest):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.close()
