"""A read timeout for aiomysql, which has none (PyMySQL's read_timeout has no async twin).

Without one, a MariaDB that hangs (stopped, partitioned, a full disk) holds every request
that touches it until the caller gives up, and Envoy then answers 504. Here each connection
notes a deadline when it starts waiting for a statement's answer, and one watchdog task per
event loop closes any connection past its deadline: the pending read then fails as a lost
connection (CR_SERVER_LOST), SQLAlchemy invalidates it as a disconnect, and the interceptor
answers UNAVAILABLE. Noting a deadline costs a clock read per statement; a timer per read
(asyncio.timeout) would cost tens of microseconds on a loaded loop.

The limit is CONNECT_TIMEOUT_S to connect (handshake and authentication included) and
READ_TIMEOUT_S for a statement's whole answer: longer than any statement or row-lock wait of
ours, shorter than Envoy's 15 s route timeout minus a connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from typing import Any

import aiomysql

log = logging.getLogger("botmesh.db")

CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 8.0
CHECK_EVERY_S = 0.5

_watched: weakref.WeakSet[WatchedConnection] = weakref.WeakSet()
_watchdogs: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}


class WatchedConnection(aiomysql.Connection):  # type: ignore[misc]
    """An aiomysql connection whose waits the watchdog may cut short. Every read of a
    statement's answer goes through _read_query_result (queries) or _read_ok_packet (BEGIN,
    COMMIT, ROLLBACK, PING, SET), so the deadline is set once per statement, not per row."""

    _waiting_until: float | None = None

    async def _connect(self) -> None:
        _ensure_watchdog()
        _watched.add(self)
        self._waiting_until = time.monotonic() + CONNECT_TIMEOUT_S
        try:
            await super()._connect()
        finally:
            self._waiting_until = None

    async def _read_query_result(self, unbuffered: bool = False) -> Any:
        self._waiting_until = time.monotonic() + READ_TIMEOUT_S
        try:
            return await super()._read_query_result(unbuffered)
        finally:
            self._waiting_until = None

    async def _read_ok_packet(self) -> Any:
        self._waiting_until = time.monotonic() + READ_TIMEOUT_S
        try:
            return await super()._read_ok_packet()
        finally:
            self._waiting_until = None

    def overdue(self, now: float) -> bool:
        return self._waiting_until is not None and now > self._waiting_until


async def connect(*args: Any, **kwargs: Any) -> WatchedConnection:
    """What SQLAlchemy's aiomysql dialect calls instead of aiomysql.connect
    (connect_args={"async_creator_fn": connect})."""
    conn = WatchedConnection(*args, **kwargs)
    await conn._connect()
    return conn


def _ensure_watchdog() -> None:
    loop = asyncio.get_running_loop()
    task = _watchdogs.get(loop)
    if task is None or task.done():
        for stale in [k for k in _watchdogs if k.is_closed()]:
            del _watchdogs[stale]
        _watchdogs[loop] = loop.create_task(_watch(loop))


async def _watch(loop: asyncio.AbstractEventLoop) -> None:
    while True:
        await asyncio.sleep(CHECK_EVERY_S)
        now = time.monotonic()
        for conn in list(_watched):
            if conn._loop is loop and conn.overdue(now):
                log.warning("database read timed out; closing the connection")
                with contextlib.suppress(Exception):
                    conn.close()
