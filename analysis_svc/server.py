"""analysis_svc wiring. The room plan, as credential_svc's: servicers/ (thin gRPC adapters)
call the use cases of analyze/ (Analyze, GetIndicators) and backtests/; those use the adapters
of candles/ (where candles come from) and advisor/ (the LLM chain), and the pure domain/."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence

import grpc
from botmesh.analysis.v1 import analysis_service_pb2, analysis_service_pb2_grpc

from analysis_svc.advisor.budget import DEFAULT_CALLS_PER_CANDLE, AdvisorBudget
from analysis_svc.advisor.settings import advisor_from_json
from analysis_svc.analyze.decision_store import DecisionStore
from analysis_svc.analyze.service import Analysis
from analysis_svc.backtests.runner import LEASE_MS, BacktestRunner
from analysis_svc.backtests.service import Backtests
from analysis_svc.backtests.slots import DEFAULT_PER_KEY, DEFAULT_TOTAL, BacktestSlots
from analysis_svc.backtests.store import BacktestStore
from analysis_svc.candles.closed import ClosedCandles
from analysis_svc.candles.source import CandleSource, CcxtCandleSource, ListCandlesSource
from analysis_svc.candles.steps import MarketSteps
from analysis_svc.candles.store_source import StoreCandleSource
from analysis_svc.candles.venue import CandleExchanges
from analysis_svc.servicers.analysis import AnalysisServicer
from mesh.server import ServiceContext, ServiceSpec
from mesh.settings import Settings
from mesh.tls import internal_tls

# Where candles come from: "trading" (trading_svc's ListCandles, the default) or "venue" (the
# exchange through ccxt, for running analysis_svc without trading_svc).
CANDLES_ENV = "BOTMESH_ANALYSIS_CANDLES"
# Advisor computations one API key may cause per (exchange, market, timeframe, candle).
ADVISOR_BUDGET_ENV = "BOTMESH_ADVISOR_CALLS_PER_CANDLE"
# Running backtests per API key, across every analysis_svc process.
BACKTESTS_PER_KEY_ENV = "BOTMESH_BACKTESTS_PER_KEY"
# Running backtests in all, across every analysis_svc process.
BACKTESTS_TOTAL_ENV = "BOTMESH_BACKTESTS_TOTAL"


def candle_source(settings: Settings) -> CandleSource:
    choice = os.environ.get(CANDLES_ENV, "trading").strip().lower() or "trading"
    if choice == "trading":
        return ListCandlesSource(
            settings.trading.target,
            settings.internal_token,
            options=settings.trading.channel_options,
            tls=internal_tls(settings),
        )
    if choice == "venue":
        return CcxtCandleSource(settings.exchange_venue, settings.exchange_sim_url)
    raise ValueError(f"{CANDLES_ENV} must be 'trading' or 'venue', not {choice!r}")


def backtest_source(settings: Settings, recent: CandleSource) -> CandleSource:
    """Backtests read long ranges from trading_svc's candle store (StreamCandles); with
    analysis_svc on the venue directly (BOTMESH_ANALYSIS_CANDLES=venue), from there too."""
    if isinstance(recent, ListCandlesSource):
        return StoreCandleSource(
            settings.trading.target,
            settings.internal_token,
            options=settings.trading.channel_options,
            tls=internal_tls(settings),
        )
    return recent


def register(server: grpc.aio.Server, ctx: ServiceContext) -> Sequence[str]:
    settings = ctx.settings
    # The shared client's pool waits for a free connection, so a burst (a thousand bots on
    # one candle close) queues instead of failing.
    redis = ctx.redis
    source = candle_source(settings)
    exchanges = CandleExchanges(settings.market_data_exchange, settings.exchange_venue)
    recorder = DecisionStore(ctx.engine)
    ctx.background.append(asyncio.create_task(recorder.run()))
    analysis = Analysis(
        ClosedCandles(source, redis),
        redis,
        recorder,
        advisor_from_json(settings.llm_endpoints),
        AdvisorBudget(redis, int(os.environ.get(ADVISOR_BUDGET_ENV, DEFAULT_CALLS_PER_CANDLE))),
        exchanges=exchanges,
    )
    slots = BacktestSlots(
        redis,
        per_key=int(os.environ.get(BACKTESTS_PER_KEY_ENV, DEFAULT_PER_KEY)),
        total=int(os.environ.get(BACKTESTS_TOTAL_ENV, DEFAULT_TOTAL)),
        lease_ms=LEASE_MS,
    )
    history = backtest_source(settings, source)
    runner = BacktestRunner(BacktestStore(ctx.engine), history, redis, slots)
    steps = MarketSteps(settings.exchange_venue, settings.exchange_sim_url)
    backtests = Backtests(
        BacktestStore(ctx.engine), runner, redis, exchanges=exchanges, steps=steps
    )
    analysis_service_pb2_grpc.add_AnalysisServiceServicer_to_server(
        AnalysisServicer(analysis, backtests), server
    )
    ctx.background.append(
        asyncio.create_task(_release_on_stop(runner, (source, history), analysis, steps))
    )
    return [analysis_service_pb2.DESCRIPTOR.services_by_name["AnalysisService"].full_name]


async def _release_on_stop(
    runner: BacktestRunner,
    sources: tuple[CandleSource, ...],
    analysis: Analysis,
    steps: MarketSteps,
) -> None:
    """Waits for shutdown (the server cancels its background tasks after draining), then
    stops running backtests and closes the candle source, market-filter and LLM clients
    (mesh closes Redis)."""
    try:
        await asyncio.Event().wait()
    finally:
        with contextlib.suppress(Exception):
            await runner.shutdown()
        for source in set(sources):
            with contextlib.suppress(Exception):
                await source.aclose()
        with contextlib.suppress(Exception):
            await analysis.aclose()
        with contextlib.suppress(Exception):
            await steps.aclose()


SPEC = ServiceSpec(name="analysis_svc", address=lambda s: s.analysis, register=register)
