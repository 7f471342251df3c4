"""The candle store's unit (trading_svc/marketdata/chunks.py): what a venue answer proves,
how chunks merge, coverage arithmetic, and columns packed and read back bit for bit."""

from __future__ import annotations

import numpy as np

from trading_svc.marketdata.chunks import (
    CHUNK_CANDLES,
    Columns,
    Series,
    by_chunk,
    merge,
    missing,
    pack_intervals,
    pack_many,
    periods,
    proven,
    union,
    unpack_intervals,
)

M = 60_000
BTC = Series("binance", "BTC-USDT", "1m")


def rows(first_ms: int, count: int, *, price: float = 61_576.59) -> list[list[float]]:
    return [
        [first_ms + i * M, price + i, price + i + 0.5, price + i - 0.25, price + i + 0.1, 0.1 * i]
        for i in range(count)
    ]


def test_the_newest_row_of_an_answer_is_not_proven_closed() -> None:
    found = proven(rows(10 * M, 5), since_ms=10 * M)
    assert found.candles.time_ms.tolist() == [10 * M, 11 * M, 12 * M, 13 * M]
    assert found.covered == [(10 * M, 14 * M)]  # up to the open of the last row, excluded


def test_an_answer_from_a_time_covers_from_that_time_gaps_included() -> None:
    # Asked from minute 5; the venue's first candle is at minute 8 (say, the listing):
    # minutes 5-7 are covered and empty.
    found = proven(rows(8 * M, 3), since_ms=5 * M)
    assert found.covered == [(5 * M, 10 * M)]
    assert found.candles.time_ms.tolist() == [8 * M, 9 * M]


def test_the_latest_candles_cover_from_their_first_row() -> None:
    found = proven(rows(100 * M, 3))
    assert found.covered == [(100 * M, 102 * M)]
    assert len(found.candles) == 2


def test_an_answer_of_one_row_or_none_proves_no_candle() -> None:
    assert len(proven([]).candles) == 0 and proven([]).covered == []
    one = proven(rows(7 * M, 1), since_ms=7 * M)
    assert len(one.candles) == 0 and one.covered == []


def test_a_malformed_answer_proves_nothing() -> None:
    bad = rows(0, 3)
    bad[1][4] = None  # type: ignore[call-overload]
    assert proven(bad, since_ms=0).covered == []
    swapped = rows(0, 3)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    assert proven(swapped, since_ms=0).covered == []
    nan = rows(0, 3)
    nan[0][2] = float("nan")
    assert proven(nan, since_ms=0).covered == []


def test_columns_pack_and_unpack_bit_for_bit() -> None:
    values = [0.1, 61_576.59, 1e-8, 123_456_789.123456789, 5e-324, 1.7976931348623157e308]
    source = [[1_700_000_000_000 + i * M, v, v, v, v, v] for i, v in enumerate(values)]
    columns = Columns.from_rows(source)
    back = Columns.unpack(columns.pack())
    assert back.time_ms.tolist() == [r[0] for r in source]
    for got in back.arrays()[1:]:
        assert got.tobytes() == np.asarray(values, dtype="<f8").tobytes()
    assert back.rows() == source


def test_merge_keeps_what_is_stored_and_adds_the_new_in_time_order() -> None:
    old = Columns.from_rows(rows(0, 3, price=100.0))
    new = Columns.from_rows(rows(2 * M, 3, price=999.0))  # overlaps minute 2
    merged = merge(old, new)
    assert merged.time_ms.tolist() == [0, M, 2 * M, 3 * M, 4 * M]
    assert merged.open.tolist() == [100.0, 101.0, 102.0, 1000.0, 1001.0]
    assert merge(merged, Columns.empty()) is merged
    assert merge(Columns.empty(), new) is new


def test_coverage_unions_finds_holes_and_counts_periods() -> None:
    assert union([(5, 9), (0, 3), (3, 4), (8, 12), (20, 20)]) == [(0, 4), (5, 12)]
    assert missing([(0, 4), (5, 12)], 2, 15) == [(4, 5), (12, 15)]
    assert missing([(0, 100)], 10, 20) == []
    assert missing([], 10, 20) == [(10, 20)]
    # Opens are multiples of the step: [30 s, 150 s) holds the opens at 60 s and 120 s.
    assert periods([(30_000, 150_000)], M) == 2
    assert periods([(0, 3 * M), (5 * M, 6 * M)], M) == 4
    assert unpack_intervals(pack_intervals([(0, 4), (5, 12)])) == [(0, 4), (5, 12)]


def test_an_answer_is_cut_along_chunk_boundaries() -> None:
    span = CHUNK_CANDLES * M
    assert BTC.span_ms == span and BTC.chunk_of(span + 5 * M) == span
    found = proven(rows(span - 3 * M, 8), since_ms=span - 3 * M)  # proves 7 candles
    parts = list(by_chunk(BTC, found))
    assert [p[0] for p in parts] == [0, span]
    first, second = parts
    assert first[1].time_ms.tolist() == [span - 3 * M, span - 2 * M, span - M]
    assert first[2] == [(span - 3 * M, span)]
    assert second[1].time_ms.tolist() == [span, span + M, span + 2 * M, span + 3 * M]
    assert second[2] == [(span, span + 4 * M)]


def test_several_runs_pack_as_their_concatenation() -> None:
    parts = [Columns.from_rows(rows(i * 10 * M, 10, price=100.0 * (i + 1))) for i in range(3)]
    packed = pack_many([parts[0].take(2, 10), parts[1], parts[2].take(0, 4)])
    assert Columns.unpack(packed).rows() == (
        parts[0].rows()[2:] + parts[1].rows() + parts[2].rows()[:4]
    )
