"""In-process coalescing: concurrent callers asking for the same key share one computation.

The cluster-wide single-flight (Redis) makes one *process* compute; this makes one *task* per
process talk to Redis or the exchange, so a burst of a thousand identical calls costs a
handful of round trips instead of a thousand pollers competing for connections.

The computation runs in its own task and every caller awaits it through a shield: a caller
that goes away (its client hung up, its deadline passed) neither cancels the others' answer
nor leaves them with its CancelledError.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class InFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._pending: dict[K, asyncio.Task[V]] = {}

    async def run(self, key: K, load: Callable[[], Awaitable[V]]) -> tuple[V, bool]:
        """(value, led): `led` is True for the one caller whose call started `load`."""
        task = self._pending.get(key)
        led = task is None
        if task is None:
            task = asyncio.ensure_future(load())
            self._pending[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task), led

    def _finished(self, key: K, task: asyncio.Task[V]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]
        if not task.cancelled():
            task.exception()  # retrieved: callers that still wait re-raise it themselves
