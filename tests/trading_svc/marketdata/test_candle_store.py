"""The candle store on the run's MariaDB (trading_svc/marketdata/candle_store.py): exact round
trips, partial chunks that later answers complete, range scans to the millisecond across
chunks and read batches, and concurrent first writers of one chunk."""

from __future__ import annotations

import asyncio
import uuid

import numpy as np
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from trading_svc.marketdata.candle_store import CandleStore, covered_from
from trading_svc.marketdata.chunks import CHUNK_CANDLES, Columns, Series, concat, proven

M = 60_000
SPAN = CHUNK_CANDLES * M
T0 = 1_000 * SPAN  # a chunk boundary


@pytest.fixture
def series() -> Series:
    """A series of its own per test (the run's database is shared)."""
    return Series("binance", f"T{uuid.uuid4().hex[:8].upper()}-USDT", "1m")


@pytest.fixture
def store(engine: AsyncEngine) -> CandleStore:
    return CandleStore(engine)


def venue(first_ms: int, count: int) -> list[list[float]]:
    """Rows as ccxt gives them, with awkward values (0.1 sums, tiny and huge numbers)."""
    rng = np.random.default_rng(first_ms // M)
    prices = (61_000 + rng.standard_normal(count).cumsum()).round(2)
    return [
        [first_ms + i * M, p, p + 0.1, p - 0.3, p + 0.01, float(rng.lognormal()) * 1e-3]
        for i, p in enumerate(prices.tolist())
    ]


async def stored(store: CandleStore, series: Series, start: int, end: int) -> Columns:
    return concat([part async for part in store.read(series, start, end)])


async def test_a_recorded_answer_reads_back_exactly(store: CandleStore, series: Series) -> None:
    answer = venue(T0, 101)
    await store.record(series, proven(answer, T0))
    back = await stored(store, series, T0, T0 + 200 * M)
    assert back.rows() == answer[:100]  # the newest row opened the next candle: not stored
    assert await store.coverage(series, T0, T0 + 200 * M) == [(T0, T0 + 100 * M)]


async def test_a_partial_chunk_is_completed_by_later_answers(
    store: CandleStore, series: Series
) -> None:
    answer = venue(T0, 301)
    await store.record(series, proven(answer[:101], T0))  # the chunk's first 100 minutes
    await store.record(series, proven(answer[200:], T0 + 200 * M))  # a later stretch
    assert await store.coverage(series, T0, T0 + SPAN) == [
        (T0, T0 + 100 * M),
        (T0 + 200 * M, T0 + 300 * M),
    ]
    await store.record(series, proven(answer[100:201], T0 + 100 * M))  # the hole between
    assert await store.coverage(series, T0, T0 + SPAN) == [(T0, T0 + 300 * M)]
    back = await stored(store, series, T0, T0 + SPAN)
    assert back.rows() == answer[:300]
    # Recording an answer again changes nothing.
    await store.record(series, proven(answer[:101], T0))
    assert (await stored(store, series, T0, T0 + SPAN)).rows() == answer[:300]


async def test_range_scans_cut_at_the_exact_millisecond_across_chunks_and_batches(
    store: CandleStore, series: Series
) -> None:
    first = T0 - 10 * M
    answer = venue(first, 2 * CHUNK_CANDLES + 21)  # spans four chunks
    await store.record(series, proven(answer, first))
    held = answer[:-1]
    for start, end in [
        (T0, T0 + SPAN),  # exactly one chunk
        (T0 - 1, T0 + SPAN + 1),  # one ms either side: the candle at T0 + SPAN is in
        (T0 + 5 * M + 1, T0 + 7 * M),  # mid-chunk; opens at 6 only
        (first, first + len(held) * M),  # everything
        (first - SPAN, first),  # before anything stored
    ]:
        for batch in (1, 2, 32):
            got = concat([p async for p in store.read(series, start, end, batch=batch)])
            want = [r for r in held if start <= r[0] < end]
            assert got.rows() == want, (start - T0, end - T0, batch)
    coverage = await store.coverage(series, T0, T0 + 3 * SPAN)
    assert coverage == [(T0, first + len(held) * M)]
    assert covered_from(coverage, T0 + M) == first + len(held) * M
    assert covered_from(coverage, first + len(held) * M) == first + len(held) * M


async def test_concurrent_first_writers_of_a_chunk_both_land(
    store: CandleStore, series: Series
) -> None:
    answer = venue(T0, 401)
    pieces = [proven(answer[i : i + 101], T0 + i * M) for i in range(0, 400, 100)]
    await asyncio.gather(*(store.record(series, piece) for piece in pieces))
    assert await store.coverage(series, T0, T0 + SPAN) == [(T0, T0 + 400 * M)]
    assert (await stored(store, series, T0, T0 + SPAN)).rows() == answer[:400]
