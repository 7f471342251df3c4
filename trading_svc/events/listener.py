"""One StreamEvents call's view of the event hub.

Rules kept:
- a listener delivers each event of its subscription once, in id order, after its cursor:
  whatever reaches it (its own backlog pages or the hub's fan-out) is dropped unless its id
  is above the cursor, and the cursor moves to every event handed out;
- what happened before it joined the live fan-out (its backlog: cursor < id <= the hub's
  read position at the time) it reads itself, in pages of PAGE with XRANGE, which never
  blocks; only then does it drain its queue, which holds what the hub read after that point,
  so there is no gap and no duplicate between the two;
- its queue is bounded (`capacity` events). A listener too slow for it is not closed: the
  hub empties its queue and stops filling it, and the listener resumes from its cursor with
  the same backlog reading up to where the hub has read by then, then rejoins the fan-out.
  What MAXLEN trimmed meanwhile is gone, as for any cursor older than the stream;
- during a Redis outage a backlog read answers nothing after the wait (the stream sends
  heartbeats) and is retried from the same cursor;
- what it hands out are frames (`frame(event)`, the stream's serialised response): the hub
  frames each live entry once for every listener of its stream; a backlog page is framed
  by the listener that read it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from botmesh.trading.v1 import resources_pb2 as pb

from mesh.redis import OUTAGE_ERRORS, RETRY_AFTER_S
from trading_svc.events.cursor import EventId
from trading_svc.events.log import EventLog
from trading_svc.events.xread import StreamFragments
from trading_svc.wakeup import Wakeup

PAGE = 200  # events per backlog read
BATCH = 200  # events per answer from the queue

Frame = bytes
Framer = Callable[[pb.BotEvent], Frame]
Entry = tuple[EventId, Frame | None]  # None: an entry not ours, only moves the cursor


def serialized(event: pb.BotEvent) -> Frame:
    """The plainest framer: the event's own bytes."""
    return event.SerializeToString()


class KeyState(StreamFragments):
    """The hub's reading of one stream: every entry up to `position` has been offered to
    every listener that was registered when it was read."""

    __slots__ = ("listeners",)

    def __init__(self, key: str, position: EventId) -> None:
        super().__init__(key, position)
        self.listeners: set[Listener] = set()


class Listener:
    __slots__ = (
        "_capacity",
        "_frame",
        "_log",
        "_queue",
        "_ready",
        "_state",
        "backlog_to",
        "cursor",
        "overflowed",
        "overflows",
        "subscription_id",
    )

    def __init__(
        self,
        subscription_id: str,
        cursor: EventId,
        log_: EventLog,
        capacity: int,
        frame: Framer = serialized,
    ) -> None:
        self.subscription_id = subscription_id
        self.cursor = cursor
        self._log = log_
        self._capacity = capacity
        self._frame = frame
        self._queue: deque[Entry] = deque()
        self._ready = Wakeup()
        self._state: KeyState | None = None
        # The backlog still to read with XRANGE: (cursor, backlog_to].
        self.backlog_to: EventId | None = None
        self.overflowed = False
        self.overflows = 0  # times the queue overflowed and the listener fell back on XRANGE

    def attach(self, state: KeyState) -> None:
        """Called by the hub when the listener joins the fan-out: everything the hub has
        already read and this listener has not seen becomes its backlog."""
        self._state = state
        self._behind(state.position)

    def qsize(self) -> int:
        return len(self._queue)

    def offer(self, entry: Entry) -> None:
        """Called by the hub's reader for each entry it reads; never blocks."""
        if self.overflowed or entry[0] <= self.cursor:
            return
        if len(self._queue) >= self._capacity:
            self._queue.clear()
            self.overflowed = True
            self.overflows += 1
        else:
            self._queue.append(entry)
        self._ready.wake()

    async def next(self, wait_s: float) -> list[Frame]:
        """The next events after the cursor, oldest first, or [] when none came within
        `wait_s` seconds (the caller sends a heartbeat then)."""
        deadline = time.monotonic() + wait_s
        while True:
            if self.overflowed and self._state is not None:
                # No await between these: entries read after this point are queued again.
                self.overflowed = False
                self._behind(self._state.position)
            if self.backlog_to is not None:
                batch = await self._backlog_page(deadline)
                if batch:
                    return batch
                if batch is None and time.monotonic() >= deadline:
                    return []
                continue
            batch = self._drain()
            if batch:
                return batch
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            self._ready.clear()
            if not await self._ready.wait(left):
                return []

    def _behind(self, position: EventId) -> None:
        if position > self.cursor and (self.backlog_to is None or position > self.backlog_to):
            self.backlog_to = position

    async def _backlog_page(self, deadline: float) -> list[Frame] | None:
        """One page of the backlog; None when Redis is down (after waiting out the time
        left, at most RETRY_AFTER_S), [] when the backlog turned out empty."""
        until = self.backlog_to
        assert until is not None
        try:
            page = await self._log.page(self.subscription_id, self.cursor, until, PAGE)
        except OUTAGE_ERRORS:
            await asyncio.sleep(min(RETRY_AFTER_S, max(0.0, deadline - time.monotonic())))
            return None
        if len(page) < PAGE or page[-1][0] >= until:
            self.backlog_to = None
        return self._take(
            [(event_id, None if e is None else self._frame(e)) for event_id, e in page]
        )

    def _drain(self) -> list[Frame]:
        taken: list[Entry] = []
        while self._queue and len(taken) < BATCH:
            taken.append(self._queue.popleft())
        return self._take(taken)

    def _take(self, entries: list[Entry]) -> list[Frame]:
        frames: list[Frame] = []
        for event_id, frame in entries:
            if event_id > self.cursor:
                self.cursor = event_id
                if frame is not None:
                    frames.append(frame)
        return frames
