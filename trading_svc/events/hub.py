"""Fan-out of bot events inside one process, from ONE Redis reader.

Rules kept:
- one task per process reads every event stream that has a local listener, with one XREAD
  naming all their keys, each from the position up to which the hub has read it (so a
  thousand open StreamEvents calls cost one blocked Redis connection, not a thousand). The
  XREAD blocks for `block_ms` (250 ms): a key that gains its first listener is read from
  the next call on, from the stream's tail as it was when the listener joined, so nothing
  published in between is missed;
- while entries keep coming, reads start no closer than MIN_READ_INTERVAL_S apart, so a
  busy set of streams costs Redis at most 100 XREADs a second, each bringing what came
  meanwhile (latency bound: that interval). The command is packed from cached fragments
  (xread.py);
- each entry is parsed and framed once (`frame`: the serialised stream response, shared by
  every listener of its stream) and offered to every listener of its stream (listener.py):
  a bounded queue each, never a blocking write, so a stalled stream cannot stall the reader;
- a key leaves the XREAD when its last listener leaves; the reader stops when no key is
  left and starts again with the next listener;
- Redis down: the reader logs once, retries every RETRY_AFTER_S from the same positions,
  and logs once when Redis answers again. Listeners see no events meanwhile (their streams
  send heartbeats) and lose none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis

from mesh.redis import OUTAGE_ERRORS, RETRY_AFTER_S
from trading_svc.events.cursor import EventId, parse
from trading_svc.events.listener import Framer, KeyState, Listener, serialized
from trading_svc.events.log import EventLog, readable, stream_key
from trading_svc.events.xread import MultiStreamReader

log = logging.getLogger("botmesh.trading.events")

BLOCK_MS = 250
READ_COUNT = 100  # entries per stream per XREAD
MIN_READ_INTERVAL_S = 0.01
QUEUE_CAPACITY = 1000  # events a listener may have waiting before it falls back on XRANGE


class EventHub:
    def __init__(
        self,
        redis: Redis,
        events: EventLog,
        *,
        capacity: int = QUEUE_CAPACITY,
        block_ms: int = BLOCK_MS,
        frame: Framer = serialized,
    ) -> None:
        self._xread = MultiStreamReader(redis, READ_COUNT, block_ms)
        self._events = events
        self._capacity = capacity
        self._frame = frame
        self._keys: dict[str, KeyState] = {}
        self._reader: asyncio.Task[None] | None = None

    def listener_count(self) -> int:
        return sum(len(state.listeners) for state in self._keys.values())

    def key_count(self) -> int:
        return len(self._keys)

    @contextlib.asynccontextmanager
    async def listen(self, subscription_id: str, after: str) -> AsyncIterator[Listener]:
        """A listener of one subscription's events after `after` ("" = new events only,
        "0" = from the start). With `after` empty a Redis outage fails the call (there is
        no cursor to start from); with a cursor it waits the outage out."""
        if after:
            try:
                tail: EventId | None = await self._events.tail_id(subscription_id)
            except OUTAGE_ERRORS:
                tail = None
            cursor = parse(after)
        else:
            tail = cursor = await self._events.tail_id(subscription_id)
        listener = Listener(subscription_id, cursor, self._events, self._capacity, self._frame)
        self._join(stream_key(subscription_id), listener, cursor if tail is None else tail)
        try:
            yield listener
        finally:
            self._leave(stream_key(subscription_id), listener)

    def _join(self, key: str, listener: Listener, tail: EventId) -> None:
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = KeyState(key, tail)
        state.listeners.add(listener)
        listener.attach(state)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read())

    def _leave(self, key: str, listener: Listener) -> None:
        state = self._keys.get(key)
        if state is None:
            return
        state.listeners.discard(listener)
        if not state.listeners:
            del self._keys[key]

    async def _read(self) -> None:
        failing = False
        while self._keys:
            started = time.monotonic()
            try:
                reply = await self._xread.read(self._keys.values())
                for raw_key, entries in reply:
                    self._dispatch(raw_key, entries)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    log.warning(
                        "event streams wait for redis",
                        exc_info=not isinstance(exc, OUTAGE_ERRORS),
                        extra={"fields": {"error": type(exc).__name__}},
                    )
                failing = True
                await asyncio.sleep(RETRY_AFTER_S)
                continue
            if failing:
                failing = False
                log.info("event streams resumed")
            if reply:
                await asyncio.sleep(MIN_READ_INTERVAL_S - (time.monotonic() - started))

    def _dispatch(self, raw_key: bytes | str, entries: Any) -> None:
        """Offers each new entry to the stream's listeners and moves its position, with no
        await in between (a listener joining sees a position whose entries it has got)."""
        key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
        state = self._keys.get(key)
        if state is None:
            return
        for entry_id, fields in entries:
            event_id = parse(entry_id)
            if event_id <= state.position:
                continue  # read for an earlier listener set of this key
            state.move(event_id)
            _, event = readable(entry_id, fields)  # not one of ours: skipped, never fatal
            if event is None:
                continue
            entry = (event_id, self._frame(event))  # framed once for every listener
            for listener in state.listeners:
                listener.offer(entry)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        await self._xread.close()
