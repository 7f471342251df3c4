"""Asks made while calls are in flight go together in the next call.

The rules it keeps:
- An ask made while fewer than `max_in_flight` calls run goes at once: a quiet service waits
  for nothing. Asks made while that many run wait, and the next call to start carries all of
  them (up to `max_batch`), so under a storm each call carries every ask that came meanwhile
  and the callee answers one call instead of hundreds.
- An ask is answered only by a call that starts after the ask was made, never by one already
  in flight: nothing is answered from a read older than the question. Nothing is cached.
- The same key asked again before its call starts shares that call's answer.
- A call that fails fails every ask it carried, with its exception. A caller that gives up
  (is cancelled) leaves the call and the other callers alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Gatherer(Generic[K, V]):
    """`fetch(keys)` answers a batch of distinct keys with a dict holding the ones it found;
    `get(key)` is that answer for one key, or None when the batch's answer leaves it out."""

    def __init__(
        self,
        fetch: Callable[[list[K]], Awaitable[dict[K, V]]],
        *,
        max_batch: int,
        max_in_flight: int = 1,
    ) -> None:
        self._fetch = fetch
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._waiting: dict[K, asyncio.Future[V | None]] = {}
        self._calls: set[asyncio.Task[None]] = set()
        # Asks and calls so far: calls < asks when asks went together.
        self.asks = 0
        self.calls = 0

    async def get(self, key: K) -> V | None:
        self.asks += 1
        future = self._waiting.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[key] = future
        if len(self._calls) < self._max_in_flight:
            self._start()
        # Shielded: one caller giving up must not cancel the answer others wait for.
        return await asyncio.shield(future)

    def _start(self) -> None:
        keys = list(self._waiting)[: self._max_batch]
        futures = [self._waiting.pop(k) for k in keys]
        self.calls += 1
        call = asyncio.get_running_loop().create_task(self._call(keys, futures))
        self._calls.add(call)
        call.add_done_callback(self._done)

    async def _call(self, keys: list[K], futures: list[asyncio.Future[V | None]]) -> None:
        try:
            found = await self._fetch(keys)
        except asyncio.CancelledError:  # the loop is shutting down
            for future in futures:
                future.cancel()
            raise
        except Exception as exc:
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # retrieved: a caller that gave up is no error
            return
        for key, future in zip(keys, futures, strict=True):
            if not future.done():
                future.set_result(found.get(key))

    def _done(self, call: asyncio.Task[None]) -> None:
        self._calls.discard(call)
        if self._waiting and len(self._calls) < self._max_in_flight:
            self._start()
