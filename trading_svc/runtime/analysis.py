"""The bot runtime's call to analysis_svc's Analyze, with the internal service identity.

The tick names its candle (`candle_time`), so every bot on one (exchange, market,
timeframe, strategy, params) shares one cached computation of it, across processes, and a
venue whose clock runs fast is decided on its own candles. Analysis unreachable or failing
is UNAVAILABLE (ANALYSIS_UNAVAILABLE): the tick is recorded as failed for that candle, never
guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import grpc
from botmesh.analysis.v1 import analysis_service_pb2 as api
from botmesh.analysis.v1 import analysis_service_pb2_grpc as rpc

from mesh.auth import INTERNAL_HEADER
from mesh.errors import DomainError, FailedPrecondition, Unavailable
from mesh.timestamps import ts
from mesh.tls import InternalTls, aio_channel
from trading_svc.runtime.terms import BotTerms

ANALYZE_TIMEOUT_S = 30.0  # an advisor chain may take its endpoints' timeouts
ACTIONS = {1: "BUY", 2: "SELL", 3: "HOLD"}


@dataclass(frozen=True)
class Signal:
    action: str  # BUY, SELL or HOLD
    confidence: float
    rationale: str
    advisor: str
    cached: bool


class AnalysisClient:
    def __init__(
        self,
        target: str,
        internal_token: str,
        options: Sequence[tuple[str, str | int]] = (),
        tls: InternalTls | None = None,
    ) -> None:
        self._channel = aio_channel(target, options, tls)
        self._stub = rpc.AnalysisServiceStub(self._channel)
        self._metadata = ((INTERNAL_HEADER, internal_token),)

    async def decide(
        self, terms: BotTerms, exchange: str, market: str, candle_time: datetime
    ) -> Signal:
        request = api.AnalyzeRequest(
            market=market,
            timeframe=terms.timeframe,
            strategy=api.StrategySpec(name=terms.strategy, params=terms.params),
            use_advisor=terms.advisor,
            exchange=exchange,
            candle_time=ts(candle_time),
        )
        try:
            reply = await self._stub.Analyze(
                request, metadata=self._metadata, timeout=ANALYZE_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as exc:
            raise _refusal(exc) from None
        signal = reply.signal
        return Signal(
            ACTIONS.get(signal.action, "HOLD"),
            signal.confidence,
            signal.rationale,
            reply.advisor,
            reply.cached,
        )

    async def close(self) -> None:
        await self._channel.close()


def _refusal(exc: grpc.aio.AioRpcError) -> DomainError:
    """A bot's own configuration refused (an unknown strategy, bad params, a candle the
    exchange has not closed) is FAILED_PRECONDITION ANALYSIS_REFUSED; anything else is
    analysis being unavailable."""
    if exc.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
        return FailedPrecondition(
            "analysis refused the bot's request",
            reason="ANALYSIS_REFUSED",
            metadata={"detail": (exc.details() or "")[:200]},
        )
    return Unavailable(
        "analysis could not be reached", reason="ANALYSIS_UNAVAILABLE", retry_after_s=1.0
    )
