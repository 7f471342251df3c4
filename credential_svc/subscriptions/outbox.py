"""The transactional outbox behind the subscription-change stream: the writing side.

The rule: a change and its announcement commit together or not at all. Every write that
changes a subscription appends the stream entry as a `change_outbox` row on the change's own
connection, inside the change's transaction (`append`); nothing publishes to Redis directly.
The relay (relay.py) publishes committed rows afterwards, so neither a crash nor a Redis
fault between the commit and the publish can lose an entry, and a rolled-back change never
announces anything.

Writers open their transaction with `begin`, which after the commit wakes this process's
relays: an entry goes out at once instead of at the relay's next poll (the poll remains, for
rows left by another process or written without `begin`).

Rows of one subscription get increasing ids in commit order, because every writer holds the
subscription's row lock (or has just inserted the row) when it appends; the relay publishes
in id order, so each subscription's entries reach the stream in the order they committed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from credential_svc.tables import change_outbox
from mesh.db import utcnow

# The relays of this process, woken after each commit that appended rows.
_wakers: set[asyncio.Event] = set()


async def append(conn: AsyncConnection, stream: str, fields: Mapping[str, str]) -> None:
    """Adds one entry for `stream` to the outbox, in `conn`'s transaction."""
    await conn.execute(
        change_outbox.insert().values(
            stream=stream,
            payload=json.dumps(dict(fields), separators=(",", ":")),
            create_time=utcnow(),
        )
    )


@asynccontextmanager
async def begin(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction like `engine.begin()`, that wakes the relays once it has committed."""
    async with engine.begin() as conn:
        yield conn
    wake()


def wake() -> None:
    for waker in _wakers:
        waker.set()


def listen() -> asyncio.Event:
    """An event set after every commit that may have appended rows (until `unlisten`)."""
    waker = asyncio.Event()
    _wakers.add(waker)
    return waker


def unlisten(waker: asyncio.Event) -> None:
    _wakers.discard(waker)
