"""AnalysisService: validated requests in (the interceptor checked the proto rules), use
cases called, protobuf out. No rules live here."""

from __future__ import annotations

import grpc
from botmesh.analysis.v1 import analysis_service_pb2 as api
from botmesh.analysis.v1 import analysis_service_pb2_grpc as rpc

from analysis_svc.analyze.service import Analysis
from analysis_svc.backtests.service import Backtests
from analysis_svc.servicers.convert import (
    analyze_to_pb,
    backtest_request,
    backtest_to_pb,
    indicators_response,
)
from mesh.auth import caller


def _owner() -> tuple[str, str]:
    """Backtests belong to the API key that created them and the principal it acted for."""
    who = caller()
    return who.key_id or "internal", who.principal or ""


class AnalysisServicer(rpc.AnalysisServiceServicer):
    def __init__(self, analysis: Analysis, backtests: Backtests) -> None:
        self._analysis = analysis
        self._backtests = backtests

    async def Analyze(
        self, request: api.AnalyzeRequest, context: grpc.aio.ServicerContext
    ) -> api.AnalyzeResponse:
        result = await self._analysis.analyze(
            market=request.market,
            timeframe=request.timeframe,
            strategy=request.strategy.name,
            params=dict(request.strategy.params),
            use_advisor=request.use_advisor,
            key_id=caller().key_id or "internal",
            exchange=request.exchange,
            candle_time_ns=(
                request.candle_time.ToNanoseconds() if request.HasField("candle_time") else None
            ),
        )
        return analyze_to_pb(result)

    async def GetIndicators(
        self, request: api.GetIndicatorsRequest, context: grpc.aio.ServicerContext
    ) -> api.GetIndicatorsResponse:
        result = await self._analysis.indicators(
            market=request.market, timeframe=request.timeframe, exchange=request.exchange
        )
        return indicators_response(result)

    async def CreateBacktest(
        self, request: api.CreateBacktestRequest, context: grpc.aio.ServicerContext
    ) -> api.CreateBacktestResponse:
        key_id, principal = _owner()
        row = await self._backtests.create(key_id, backtest_request(request), principal=principal)
        return api.CreateBacktestResponse(backtest=backtest_to_pb(row))

    async def GetBacktest(
        self, request: api.GetBacktestRequest, context: grpc.aio.ServicerContext
    ) -> api.GetBacktestResponse:
        key_id, principal = _owner()
        row = await self._backtests.get(key_id, request.backtest_id, principal=principal)
        return api.GetBacktestResponse(backtest=backtest_to_pb(row))

    async def CancelBacktest(
        self, request: api.CancelBacktestRequest, context: grpc.aio.ServicerContext
    ) -> api.CancelBacktestResponse:
        key_id, principal = _owner()
        row = await self._backtests.cancel(key_id, request.backtest_id, principal=principal)
        return api.CancelBacktestResponse(backtest=backtest_to_pb(row))
