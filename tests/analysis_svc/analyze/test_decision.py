"""Analyze without transport: strategy + advisor -> Decision, cached once per candle."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from analysis_svc.advisor.chain import Advisor
from analysis_svc.analyze.decision import (
    OUTCOME_ADVISOR_NOT_REQUESTED,
    Decision,
    analyze,
    decision_key_for,
)
from analysis_svc.analyze.decision_cache import redis_key, single_flight
from analysis_svc.domain.advisor import AdvisorConfig, EndpointConfig
from analysis_svc.domain.signal import Action
from analysis_svc.domain.strategies import resolve_strategy
from analysis_svc.domain.synthetic import candles_from_closes
from analysis_svc.llm_fake import Behaviour, FakeLLM

CALM = [100 + 0.5 * (-1) ** i for i in range(30)]
DIP_CLOSES = [*CALM, *(99 - 2 * k for k in range(1, 8))]
DIP = candles_from_closes(DIP_CLOSES, step_ms=3_600_000)


async def test_analyze_without_advisor_round_trips() -> None:
    bound = resolve_strategy("rsi_mean_reversion")
    decision = await analyze(DIP, bound, exchange="binance", market="BTC-USDT", timeframe="1h")
    assert decision.signal.action is Action.BUY and decision.signal == decision.strategy_signal
    assert (decision.advisor, decision.outcome) == ("none", OUTCOME_ADVISOR_NOT_REQUESTED)
    assert decision.candle_time_ms == int(DIP.time_ms[-1])
    assert "rsi_14" in decision.indicators
    assert Decision.from_bytes(decision.to_bytes()) == decision


async def test_key_depends_on_candle_and_advisor(fake_llm: FakeLLM) -> None:
    bound = resolve_strategy("rsi_mean_reversion", {"period": "14"})
    same = resolve_strategy("rsi_mean_reversion", {"period": 14})
    advisor = Advisor(AdvisorConfig((EndpointConfig("p", fake_llm.base_url, "m"),)))
    args = {"exchange": "binance", "market": "BTC-USDT", "timeframe": "1h", "candles": DIP}
    plain = decision_key_for(**args, strategy=bound, advisor=None)  # type: ignore[arg-type]
    assert plain == decision_key_for(**args, strategy=same, advisor=None)  # type: ignore[arg-type]
    assert plain != decision_key_for(**args, strategy=bound, advisor=advisor)  # type: ignore[arg-type]
    earlier = candles_from_closes(DIP_CLOSES[:-1], step_ms=3_600_000)  # previous candle
    shorter = {**args, "candles": earlier}
    assert plain != decision_key_for(**shorter, strategy=bound, advisor=None)  # type: ignore[arg-type]
    elsewhere = {**args, "exchange": "binanceus"}  # the same candle on another exchange
    assert plain != decision_key_for(**elsewhere, strategy=bound, advisor=None)  # type: ignore[arg-type]
    await advisor.aclose()


async def test_concurrent_analyze_calls_ask_the_llm_once(
    fake_llm: FakeLLM,
    redis_client: aioredis.Redis,
    redis_client_2: aioredis.Redis,
    redis_prefix: str,
) -> None:
    fake_llm.set_default(Behaviour.slow(0.1, Behaviour.valid("BUY", 0.6, "agreed")))
    advisor = Advisor(AdvisorConfig((EndpointConfig("local", fake_llm.base_url, "m"),)))
    bound = resolve_strategy("rsi_mean_reversion")
    key = redis_key(
        decision_key_for(
            exchange="binance",
            market="BTC-USDT",
            timeframe="1h",
            candles=DIP,
            strategy=bound,
            advisor=advisor,
        ),
        prefix=redis_prefix,
    )

    async def compute() -> bytes:
        decision = await analyze(
            DIP, bound, exchange="binance", market="BTC-USDT", timeframe="1h", advisor=advisor
        )
        return decision.to_bytes()

    clients = (redis_client, redis_client_2)
    results = await asyncio.gather(
        *(single_flight(clients[i % 2], key, compute, 60, 10, 10) for i in range(50))
    )
    await advisor.aclose()
    assert fake_llm.calls == 1
    decisions = {Decision.from_bytes(value) for value, _ in results}
    assert len(decisions) == 1
    decision = decisions.pop()
    assert decision.advisor == "local" and decision.signal.action is Action.BUY
    assert decision.signal.confidence == 0.6 and decision.outcome == "WEAKENED"
