"""InternalTradingService, for the other services only (wind-down for credential_svc, the
candle store for analysis_svc): the access rule in the proto admits only callers with the
internal service identity."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from botmesh.trading.v1 import internal_service_pb2 as api
from botmesh.trading.v1 import internal_service_pb2_grpc as rpc

from mesh.timestamps import LAST_TIMESTAMP_MS
from trading_svc.lifecycle.winddown import WindDown
from trading_svc.marketdata.chunks import pack_many
from trading_svc.marketdata.history import CandleHistory, Progress


class InternalTradingServicer(rpc.InternalTradingServiceServicer):
    def __init__(self, wind_down: WindDown, history: CandleHistory) -> None:
        self._wind_down = wind_down
        self._history = history

    async def WindDownSubscriptions(
        self, request: api.WindDownSubscriptionsRequest, context: grpc.aio.ServicerContext
    ) -> api.WindDownSubscriptionsResponse:
        outcome = await self._wind_down.run(list(request.subscription_ids))
        return api.WindDownSubscriptionsResponse(
            orders_closed=outcome.closed, orders_failed=outcome.failed
        )

    async def StreamCandles(
        self, request: api.StreamCandlesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[api.StreamCandlesResponse]:
        start_ms = max(0, _ms(request.start_time))
        end_ms = min(LAST_TIMESTAMP_MS, _ms(request.end_time))
        series = await self._history.series(
            request.exchange, request.market, request.timeframe, start_ms, end_ms
        )
        async for item in self._history.stream(series, start_ms, end_ms):
            if isinstance(item, Progress):
                progress = api.BackfillProgress(covered=item.covered, total=item.total)
                yield api.StreamCandlesResponse(progress=progress)
                continue
            times, opens, highs, lows, closes, volumes = pack_many(item)
            yield api.StreamCandlesResponse(
                candles=api.CandleColumns(
                    count=sum(len(part) for part in item),
                    open_time_ms=times,
                    open=opens,
                    high=highs,
                    low=lows,
                    close=closes,
                    volume=volumes,
                )
            )


def _ms(stamp: object) -> int:
    """A Timestamp in ms, rounded up: a candle opens on a whole ms, so it opens at or after
    the stamp exactly when it opens at or after this."""
    seconds = int(getattr(stamp, "seconds", 0))
    nanos = int(getattr(stamp, "nanos", 0))
    return seconds * 1000 - (-nanos // 1_000_000)
