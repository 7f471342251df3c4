"""MarketDataService: thin; validation is the interceptor's, behaviour the domain's.
StreamPrices yields frames (serialised responses shared by every stream, frames.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from botmesh.trading.v1 import market_data_service_pb2 as api
from botmesh.trading.v1 import market_data_service_pb2_grpc as rpc

from mesh.auth import authenticate_stream
from trading_svc.marketdata.hub import PriceHub
from trading_svc.marketdata.service import MarketData, utc
from trading_svc.servicers.frames import Frame, Heartbeats
from trading_svc.stream_limits import StreamLimits


class MarketDataServicer(rpc.MarketDataServiceServicer):
    def __init__(
        self, data: MarketData, hub: PriceHub, heartbeat_s: float, limits: StreamLimits
    ) -> None:
        self._data = data
        self._hub = hub
        self._heartbeat_s = heartbeat_s
        self._limits = limits
        self._heartbeats = Heartbeats(api.StreamPricesResponse)

    async def GetTicker(
        self, request: api.GetTickerRequest, context: grpc.aio.ServicerContext
    ) -> api.GetTickerResponse:
        ticker = await self._data.ticker(request.market, request.exchange)
        return api.GetTickerResponse(ticker=ticker)

    async def ListCandles(
        self, request: api.ListCandlesRequest, context: grpc.aio.ServicerContext
    ) -> api.ListCandlesResponse:
        start = utc(request.start_time) if request.HasField("start_time") else None
        end = utc(request.end_time) if request.HasField("end_time") else None
        candles, token = await self._data.candles(
            request.market,
            request.timeframe,
            start,
            end,
            request.page_size,
            request.page_token,
            request.exchange,
        )
        return api.ListCandlesResponse(candles=candles, next_page_token=token)

    async def StreamPrices(  # type: ignore[override]  # frames: StreamPricesResponse bytes
        self, request: api.StreamPricesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Frame]:
        who = authenticate_stream(request.access_token)
        pair = await self._data.check_market(request.market, request.exchange)
        async with self._limits.open(who) as lease, self._hub.subscribe(pair) as slot:
            while True:
                frame = await slot.get(await lease.wait_s(self._heartbeat_s))
                yield self._heartbeats.frame() if frame is None else frame
