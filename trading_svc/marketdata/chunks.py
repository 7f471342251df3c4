"""The candle store's unit: a chunk of one series' closed candles, as packed columns.

A series is (exchange, market, timeframe). Its time axis is cut into chunks of CHUNK_CANDLES
periods, aligned on the epoch (chunk_start = open // span * span), one row each. A chunk
holds:

- the closed candles the venue reported for it, oldest first, as columns: open times
  (int64) and open, high, low, close, volume (float64, the venue's values as ccxt parsed
  them, so what is read back is exactly what was fetched);
- its coverage: the half-open time intervals in which the store holds *every* candle the
  venue has (a venue's gap inside a covered interval is a gap it really has). A range is
  backfilled from the venue only where it is not covered, so it is fetched once.

What a venue answer proves (`proven`): candles come back consecutive from the time asked
(or, asked for the latest, from the first row), so every candle opening before the last
row's open is in the answer; and the last row may still be forming (a candle is closed when
the exchange already serves a later one: the exchange's word, never our clock), so it is
neither stored nor covered. Chunks merge: candles are unioned by open time (a stored
candle, closed, never changes) and coverage is unioned too.

Pure: no I/O, numpy only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from quant.periods import TIMEFRAME_MS

CHUNK_CANDLES = 1440  # a UTC day of 1-minute candles; 69 KB of columns when full

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Interval = tuple[int, int]  # [start_ms, end_ms)
VALUE_COLUMNS = ("open", "high", "low", "close", "volume")


class Series(NamedTuple):
    """What the store keeps candles per."""

    exchange: str
    market: str
    timeframe: str

    @property
    def step_ms(self) -> int:
        return TIMEFRAME_MS[self.timeframe]

    @property
    def span_ms(self) -> int:
        return CHUNK_CANDLES * self.step_ms

    def chunk_of(self, open_ms: int) -> int:
        """The start of the chunk holding the candle opening at `open_ms`."""
        return open_ms // self.span_ms * self.span_ms


@dataclass(frozen=True, slots=True, eq=False)
class Columns:
    """Closed candles, oldest first, one array per column (no per-candle object)."""

    time_ms: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return int(self.time_ms.shape[0])

    @classmethod
    def empty(cls) -> Columns:
        return cls(np.empty(0, np.int64), *(np.empty(0, np.float64) for _ in range(5)))

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]]) -> Columns:
        """From ccxt OHLCV rows [open ms, o, h, l, c, v] in time order."""
        if not rows:
            return cls.empty()
        table = np.asarray([r[:6] for r in rows], dtype=np.float64)
        times = np.asarray([int(r[0]) for r in rows], dtype=np.int64)  # exact past 2**53
        return cls(times, *(np.ascontiguousarray(table[:, i]) for i in range(1, 6)))

    @classmethod
    def of(cls, arrays: Iterable[Any]) -> Columns:
        """From six arrays in column order (times first)."""
        return cls(*arrays)

    def take(self, lo: int, hi: int) -> Columns:
        """Rows lo..hi-1 (views, no copy)."""
        return Columns.of(col[lo:hi] for col in self.arrays())

    def between(self, start_ms: int, end_ms: int) -> Columns:
        """The candles opening in [start_ms, end_ms) (views)."""
        lo = int(np.searchsorted(self.time_ms, start_ms, side="left"))
        hi = int(np.searchsorted(self.time_ms, end_ms, side="left"))
        return self.take(lo, hi)

    def arrays(self) -> tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        return (self.time_ms, self.open, self.high, self.low, self.close, self.volume)

    def rows(self) -> list[list[Any]]:
        """As ccxt rows (for ListCandles pages, a thousand at most)."""
        times = self.time_ms.tolist()
        values = np.column_stack(self.arrays()[1:]).tolist() if len(self) else []
        return [[t, *v] for t, v in zip(times, values, strict=True)]

    def pack(self) -> tuple[bytes, ...]:
        """Each column as little-endian bytes: int64 times, float64 values."""
        return (
            self.time_ms.astype("<i8", copy=False).tobytes(),
            *(col.astype("<f8", copy=False).tobytes() for col in self.arrays()[1:]),
        )

    @classmethod
    def unpack(cls, blobs: Sequence[bytes]) -> Columns:
        """The inverse of `pack` (read-only views of the bytes, no copy)."""
        times = np.frombuffer(blobs[0], dtype="<i8").astype(np.int64, copy=False)
        values = (np.frombuffer(b, dtype="<f8").astype(np.float64, copy=False) for b in blobs[1:])
        return cls(times, *values)


def pack_many(parts: Sequence[Columns]) -> tuple[bytes, ...]:
    """Several runs of candles as one run's packed columns (`Columns.pack` of their concat),
    each column copied once, straight from the parts' buffers."""
    columns = zip(*(p.arrays() for p in parts), strict=True)
    kinds = ("<i8", "<f8", "<f8", "<f8", "<f8", "<f8")
    return tuple(
        b"".join(np.ascontiguousarray(a, dtype=kind).data for a in arrays)
        for kind, arrays in zip(kinds, columns, strict=True)
    )


def concat(parts: Sequence[Columns]) -> Columns:
    if not parts:
        return Columns.empty()
    if len(parts) == 1:
        return parts[0]
    return Columns(
        *(np.concatenate(cols) for cols in zip(*(p.arrays() for p in parts), strict=True))
    )


def merge(old: Columns, new: Columns) -> Columns:
    """Both sets of candles by open time; where both hold one, the stored one stays (a
    closed candle does not change, and the store never rewrites what it has)."""
    if len(new) == 0:
        return old
    if len(old) == 0:
        return new
    both = concat([old, new])
    # Stable sort on time with `old` first: np.unique keeps the first of equal times.
    order = np.argsort(both.time_ms, kind="stable")
    _, first = np.unique(both.time_ms[order], return_index=True)
    pick = order[first]
    return Columns.of(col[pick] for col in both.arrays())


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint, non-empty intervals; touching ones joined."""
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def missing(covered: Iterable[Interval], start_ms: int, end_ms: int) -> list[Interval]:
    """The parts of [start_ms, end_ms) that `covered` leaves out."""
    out: list[Interval] = []
    at = start_ms
    for lo, hi in union(covered):
        if hi <= at:
            continue
        if lo >= end_ms:
            break
        if lo > at:
            out.append((at, lo))
        at = max(at, hi)
    if at < end_ms:
        out.append((at, end_ms))
    return out


def clip(intervals: Iterable[Interval], start_ms: int, end_ms: int) -> list[Interval]:
    return union((max(lo, start_ms), min(hi, end_ms)) for lo, hi in intervals)


def periods(intervals: Iterable[Interval], step_ms: int) -> int:
    """How many candle opens (multiples of step_ms) the intervals hold."""
    return sum(-(-hi // step_ms) - -(-lo // step_ms) for lo, hi in intervals)


def pack_intervals(intervals: Sequence[Interval]) -> bytes:
    return np.asarray(intervals, dtype="<i8").reshape(-1).tobytes()


def unpack_intervals(raw: bytes) -> list[Interval]:
    flat = np.frombuffer(raw, dtype="<i8").tolist()
    return list(zip(flat[0::2], flat[1::2], strict=True))


@dataclass(frozen=True, slots=True, eq=False)
class Proven:
    """What a venue answer proves: closed candles, and where the store now has them all."""

    candles: Columns
    covered: list[Interval]


def proven(rows: Sequence[Sequence[Any]], since_ms: int | None = None) -> Proven:
    """What an answer of the venue to "candles from `since_ms`" (None: the latest ones)
    proves; see the module docstring. Rows of a malformed answer (a value missing, out of
    order) prove nothing."""
    if not rows:
        return Proven(Columns.empty(), [])
    try:
        candles = Columns.from_rows(rows)
    except (TypeError, ValueError, IndexError):
        return Proven(Columns.empty(), [])
    values_ok = all(bool(np.all(np.isfinite(col))) for col in candles.arrays()[1:])
    if not values_ok or (len(candles) > 1 and not np.all(np.diff(candles.time_ms) > 0)):
        return Proven(Columns.empty(), [])
    first = int(candles.time_ms[0]) if since_ms is None else since_ms
    last = int(candles.time_ms[-1])
    return Proven(candles.take(0, len(candles) - 1).between(first, last), union([(first, last)]))


def by_chunk(series: Series, found: Proven) -> Iterator[tuple[int, Columns, list[Interval]]]:
    """`found` cut along the series' chunks: (chunk start, its candles, its coverage)."""
    if not found.covered:
        return
    span = series.span_ms
    lo = series.chunk_of(found.covered[0][0])
    hi = found.covered[-1][1]
    for start in range(lo, hi, span):
        end = start + span
        part = clip(found.covered, start, end)
        if part:
            yield start, found.candles.between(start, end), part
