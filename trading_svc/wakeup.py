"""A stream's wait for its next message, bounded in time, that costs no task.

asyncio.wait_for (Python 3.11) wraps the awaited coroutine in a Task of its own on every call;
ten thousand idle streams waiting for the next tick would be ten thousand extra tasks, each
created again after every message. A Wakeup is one future and one timer per wait instead.

Rules kept:
- `wait(s)` returns True when `wake()` was called since the wait began (or before it, while
  nobody had consumed that wake), False when `s` seconds passed first;
- `wake()` never blocks and may be called any number of times: wakes between two waits are
  one wake;
- a cancelled waiter leaves nothing behind (its timer is cancelled, the future dropped).
"""

from __future__ import annotations

import asyncio


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class Wakeup:
    __slots__ = ("_pending", "_waiter")

    def __init__(self) -> None:
        self._waiter: asyncio.Future[bool] | None = None
        self._pending = False  # woken while nobody waited

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is None:
            self._pending = True
        elif not waiter.done():
            waiter.set_result(True)

    def clear(self) -> None:
        """Forgets a wake nobody has waited for yet."""
        self._pending = False

    async def wait(self, wait_s: float) -> bool:
        if self._pending:
            self._pending = False
            return True
        if wait_s <= 0:
            return False
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(wait_s, _expire, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()
            self._waiter = None
