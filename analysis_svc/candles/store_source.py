"""Backtests' candles: trading_svc's candle store, streamed as packed columns.

`StoreCandleSource` calls trading_svc's internal StreamCandles with the internal service
identity. The answer is a stream of column chunks (little-endian int64 open times, float64
values) that are copied straight into arrays allocated once for the whole range, so a
million candles cost six arrays and never a per-candle Python object or string. While
trading_svc backfills a range it does not hold yet, its progress messages move `on_page`;
loading the columns moves it the rest of the way.

Errors are those of the other sources (source.py): MARKET_NOT_FOUND for a market the venue
does not list, an exchange's refusal as it is, CANDLES_UNAVAILABLE for anything else.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import numpy as np
from botmesh.trading.v1 import internal_service_pb2 as api
from botmesh.trading.v1 import internal_service_pb2_grpc as rpc

from analysis_svc.candles.source import PageProgress, mapped_status
from analysis_svc.domain.candles import Candles
from analysis_svc.domain.errors import UnusableCandles
from mesh.auth import INTERNAL_HEADER
from mesh.timestamps import ts_ms
from mesh.tls import InternalTls, aio_channel
from quant.periods import TIMEFRAME_MS

# A cold backfill of a million candles runs a thousand venue pages through ccxt's throttle.
STREAM_TIMEOUT_S = 1800.0
BACKFILL_SHARE = 0.9  # of on_page's fraction; loading the columns is the rest


class StoreCandleSource:
    def __init__(
        self,
        target: str,
        internal_token: str,
        *,
        timeout_s: float = STREAM_TIMEOUT_S,
        options: Sequence[tuple[str, str | int]] = (),
        tls: InternalTls | None = None,
    ) -> None:
        self._channel = aio_channel(target, options, tls)
        self._stub = rpc.InternalTradingServiceStub(self._channel)
        self._metadata = ((INTERNAL_HEADER, internal_token),)
        self._timeout_s = timeout_s

    async def candles(
        self,
        exchange: str,
        market: str,
        timeframe: str,
        start_ms: int,
        end_ms: int,
        *,
        on_page: PageProgress | None = None,
    ) -> Candles:
        """The closed candles opening in [start_ms, end_ms], oldest first."""
        capacity = max(0, (end_ms - start_ms) // TIMEFRAME_MS[timeframe] + 1)
        columns = _Columns(capacity)
        request = api.StreamCandlesRequest(
            exchange=exchange,
            market=market,
            timeframe=timeframe,
            start_time=ts_ms(start_ms),
            end_time=ts_ms(end_ms + 1),  # StreamCandles' end is exclusive, ours inclusive
        )
        call = self._stub.StreamCandles(request, metadata=self._metadata, timeout=self._timeout_s)
        try:
            async for reply in call:
                if reply.HasField("progress"):
                    if on_page is not None and reply.progress.total > 0:
                        done = reply.progress.covered / reply.progress.total
                        await on_page(BACKFILL_SHARE * min(1.0, done))
                    continue
                columns.add(reply.candles)
                if on_page is not None:
                    await on_page(BACKFILL_SHARE + (1 - BACKFILL_SHARE) * columns.fraction)
        except grpc.aio.AioRpcError as exc:
            raise mapped_status(exchange, market, exc) from None
        finally:
            call.cancel()
        return columns.candles()

    async def aclose(self) -> None:
        await self._channel.close()


class _Columns:
    """Arrays for at most `capacity` candles, filled chunk by chunk."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._n = 0
        self._time = np.empty(capacity, dtype=np.int64)
        self._values = [np.empty(capacity, dtype=np.float64) for _ in range(5)]

    @property
    def fraction(self) -> float:
        return self._n / self._capacity if self._capacity else 1.0

    def add(self, chunk: api.CandleColumns) -> None:
        count, at = chunk.count, self._n
        blobs = (chunk.open, chunk.high, chunk.low, chunk.close, chunk.volume)
        sizes_ok = len(chunk.open_time_ms) == 8 * count and all(len(b) == 8 * count for b in blobs)
        if count < 0 or not sizes_ok or at + count > self._capacity:
            raise UnusableCandles("the candle store sent a malformed chunk")
        self._time[at : at + count] = np.frombuffer(chunk.open_time_ms, dtype="<i8")
        for target, blob in zip(self._values, blobs, strict=True):
            target[at : at + count] = np.frombuffer(blob, dtype="<f8")
        self._n += count

    def candles(self) -> Candles:
        n = self._n
        return Candles(self._time[:n], *(v[:n] for v in self._values))
