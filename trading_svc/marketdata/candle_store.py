"""SQL of the candle store: chunks of packed columns (marketdata/chunks.py) in `candle_chunks`.

- `record` merges what a venue answer proved into the chunks it touches, in one transaction
  per call, each chunk read FOR UPDATE and written back, in chunk order (so two writers of
  overlapping chunks queue, never deadlock). Two first writers of a chunk race on its
  primary key; the loser retries and merges into the winner's row. Merging is idempotent.
- `read` scans a range by primary key in batches of rows (bounded memory whatever the
  range: a million candles are ~700 rows read 16 at a time, the next batch read while the
  caller sends this one), yielding each chunk's candles in the range.
- `coverage` reads only the coverage column of the range's chunks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mesh.db import utcnow
from trading_svc.marketdata.chunks import (
    VALUE_COLUMNS,
    Columns,
    Interval,
    Proven,
    Series,
    by_chunk,
    clip,
    merge,
    pack_intervals,
    union,
    unpack_intervals,
)
from trading_svc.tables import candle_chunks as t

READ_BATCH = 16  # chunks per query: ~1.1 MB of columns when full
_WRITE_ATTEMPTS = 3
_COLUMNS = ("open_time", *VALUE_COLUMNS)


def _of(series: Series) -> sa.ColumnElement[bool]:
    return sa.and_(
        t.c.exchange == series.exchange,
        t.c.market == series.market,
        t.c.timeframe == series.timeframe,
    )


class CandleStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, series: Series, found: Proven) -> None:
        """Merges `found` into the store; a no-op for an answer that proved nothing."""
        parts = list(by_chunk(series, found))
        if not parts:
            return
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                async with self._engine.begin() as conn:
                    for start, candles, covered in parts:
                        await self._merge(conn, series, start, candles, covered)
                return
            except IntegrityError:  # a concurrent first write of a chunk: merge into it
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise

    async def _merge(
        self,
        conn: AsyncConnection,
        series: Series,
        start: int,
        candles: Columns,
        covered: list[Interval],
    ) -> None:
        where = sa.and_(_of(series), t.c.chunk_start == start)
        query = sa.select(t.c.covered, *(t.c[c] for c in _COLUMNS)).where(where)
        row = (await conn.execute(query.with_for_update())).first()
        if row is None:
            await conn.execute(
                sa.insert(t).values(
                    exchange=series.exchange,
                    market=series.market,
                    timeframe=series.timeframe,
                    chunk_start=start,
                    **_values(candles, covered),
                )
            )
            return
        old_covered = unpack_intervals(row[0])
        new_covered = union([*old_covered, *covered])
        old = Columns.unpack(row[1:])
        merged = merge(old, candles)
        if new_covered == old_covered and len(merged) == len(old):
            return  # nothing new: no write
        await conn.execute(sa.update(t).where(where).values(**_values(merged, new_covered)))

    async def coverage(self, series: Series, start_ms: int, end_ms: int) -> list[Interval]:
        """Where, within [start_ms, end_ms), the store holds every candle of the venue."""
        query = sa.select(t.c.covered).where(
            _of(series),
            t.c.chunk_start >= series.chunk_of(start_ms),
            t.c.chunk_start < end_ms,
        )
        async with self._engine.connect() as conn:
            raws = (await conn.execute(query)).scalars().all()
        return clip((i for raw in raws for i in unpack_intervals(raw)), start_ms, end_ms)

    async def read(
        self, series: Series, start_ms: int, end_ms: int, *, batch: int = READ_BATCH
    ) -> AsyncIterator[Columns]:
        """The stored candles opening in [start_ms, end_ms), chunk by chunk, oldest first."""
        async for parts in self.read_batches(series, start_ms, end_ms, batch=batch):
            for part in parts:
                yield part

    async def read_batches(
        self, series: Series, start_ms: int, end_ms: int, *, batch: int = READ_BATCH
    ) -> AsyncIterator[list[Columns]]:
        """`read`, a query's chunks at a time. The next query runs while the caller works on
        this batch (at most two batches are held), so the database's answer and the
        caller's sending overlap."""
        ahead: asyncio.Queue[list[Columns] | None] = asyncio.Queue(maxsize=1)
        reader = asyncio.create_task(self._read_ahead(series, start_ms, end_ms, batch, ahead))
        try:
            while (parts := await ahead.get()) is not None:
                yield parts
            await reader  # its error, if it stopped on one
        finally:
            reader.cancel()

    async def _read_ahead(
        self,
        series: Series,
        start_ms: int,
        end_ms: int,
        batch: int,
        ahead: asyncio.Queue[list[Columns] | None],
    ) -> None:
        after = series.chunk_of(start_ms) - 1
        try:
            while True:
                query = (
                    sa.select(t.c.chunk_start, *(t.c[c] for c in _COLUMNS))
                    .where(_of(series), t.c.chunk_start > after, t.c.chunk_start < end_ms)
                    .order_by(t.c.chunk_start)
                    .limit(batch)
                )
                async with self._engine.connect() as conn:
                    rows = (await conn.execute(query)).all()
                parts = [Columns.unpack(row[1:]).between(start_ms, end_ms) for row in rows]
                await ahead.put([p for p in parts if len(p)])
                if len(rows) < batch:
                    break
                after = int(rows[-1][0])
        except asyncio.CancelledError:
            raise  # the caller went away: nobody waits for the end
        except BaseException:
            await ahead.put(None)  # wakes the caller, who finds the error in `await reader`
            raise
        await ahead.put(None)

    async def read_all(self, series: Series, start_ms: int, end_ms: int) -> list[Columns]:
        """`read` gathered: for short ranges (a page of ListCandles)."""
        return [part async for part in self.read(series, start_ms, end_ms)]


def _values(candles: Columns, covered: list[Interval]) -> dict[str, Any]:
    packed = candles.pack()
    return {
        "count": len(candles),
        **dict(zip(_COLUMNS, packed, strict=True)),
        "covered": pack_intervals(covered),
        "update_time": utcnow(),
    }


def covered_from(covered: list[Interval], start_ms: int) -> int:
    """How far from `start_ms` the coverage reaches without a hole (start_ms: not at all)."""
    for lo, hi in union(covered):
        if lo <= start_ms < hi:
            return hi
    return start_ms
