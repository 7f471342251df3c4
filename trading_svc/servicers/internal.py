"""InternalTradingService, for the credential service only: the access rule in the proto admits only
callers with the internal service identity."""

from __future__ import annotations

import grpc
from botmesh.trading.v1 import internal_service_pb2 as api
from botmesh.trading.v1 import internal_service_pb2_grpc as rpc

from trading_svc.lifecycle.winddown import WindDown


class InternalTradingServicer(rpc.InternalTradingServiceServicer):
    def __init__(self, wind_down: WindDown) -> None:
        self._wind_down = wind_down

    async def WindDownSubscriptions(
        self, request: api.WindDownSubscriptionsRequest, context: grpc.aio.ServicerContext
    ) -> api.WindDownSubscriptionsResponse:
        outcome = await self._wind_down.run(list(request.subscription_ids))
        return api.WindDownSubscriptionsResponse(
            orders_closed=outcome.closed, orders_failed=outcome.failed
        )
