"""Fixtures for analysis_svc's use cases and adapters: wired as server.py wires them,
against the run's real Redis and MariaDB, with candles from the running mesh's trading_svc
(ListCandles, as the internal identity), whose venue is the run's exchange_sim."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from analysis_svc.advisor.settings import advisor_from_json
from analysis_svc.analyze.decision_store import DecisionStore
from analysis_svc.analyze.service import Analysis
from analysis_svc.candles.closed import ClosedCandles
from analysis_svc.candles.source import CandleSource, CcxtCandleSource, ListCandlesSource
from analysis_svc.llm_fake import FakeLLM, start_fake_llm
from cli.launcher import Mesh
from mesh.redis import make_redis
from mesh.settings import Settings

MakeAnalysis = Callable[..., Awaitable[Analysis]]


@pytest.fixture(scope="session")
async def candle_source(
    settings: Settings, exchange_sim: object, mesh: Mesh
) -> AsyncIterator[ListCandlesSource]:
    """The source server.py uses by default: trading_svc's ListCandles."""
    source = ListCandlesSource(settings.trading.target, settings.internal_token)
    yield source
    await source.aclose()


@pytest.fixture(scope="session")
async def venue_source(settings: Settings, exchange_sim: object) -> AsyncIterator[CcxtCandleSource]:
    """The venue itself through ccxt (BOTMESH_ANALYSIS_CANDLES=venue): the reference."""
    source = CcxtCandleSource("sim", settings.exchange_sim_url)
    yield source
    await source.aclose()


@pytest.fixture(scope="session")
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = make_redis(settings.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLLM]:
    server = await start_fake_llm()
    yield server
    await server.close()


@pytest.fixture
async def fake_llm_2() -> AsyncIterator[FakeLLM]:
    server = await start_fake_llm()
    yield server
    await server.close()


@pytest.fixture
async def recorder(engine: AsyncEngine) -> AsyncIterator[DecisionStore]:
    """The decisions writer; tests flush it (server.py runs it in the background)."""
    store = DecisionStore(engine)
    yield store
    await store.flush()


@pytest.fixture
async def make_analysis(
    candle_source: CandleSource, redis: Redis, recorder: DecisionStore
) -> AsyncIterator[MakeAnalysis]:
    """make_analysis(advisor_config_dict_or_None) -> Analysis, closed after the test."""
    made: list[Analysis] = []

    async def make(advisor: dict[str, Any] | None = None) -> Analysis:
        analysis = Analysis(
            ClosedCandles(candle_source, redis),
            redis,
            recorder,
            advisor_from_json(json.dumps(advisor) if advisor else ""),
        )
        made.append(analysis)
        return analysis

    yield make
    for analysis in made:
        await analysis.aclose()
