"""Paid advisor calls are bounded per API key per candle: stepping a strategy parameter (a
fresh decision-cache key each time) cannot buy unlimited LLM calls. Past the budget Analyze
still answers, with the strategy's own signal and advisor "skipped:budget". Calls are counted
by the fake OpenAI-compatible server itself."""

from __future__ import annotations

import uuid
from typing import Any

from redis.asyncio import Redis

from analysis_svc.advisor.budget import DEFAULT_CALLS_PER_CANDLE, AdvisorBudget
from analysis_svc.analyze.service import AnalyzeResult
from analysis_svc.llm_fake import Behaviour, FakeLLM
from tests.analysis_svc.conftest import MakeAnalysis


def chain(fake: FakeLLM) -> dict[str, Any]:
    """consult_on_hold: every computation would reach the model, whatever the candle says."""
    model = f"{uuid.uuid4().hex[:8]}-budget"
    endpoint = {"name": "paid", "base_url": fake.base_url, "model": model, "timeout_s": 2}
    return {"endpoints": [endpoint], "consult_on_hold": True}


async def ask(analysis: Any, fast: int, key_id: str) -> AnalyzeResult:
    result: AnalyzeResult = await analysis.analyze(
        market="BTC-USDT",
        timeframe="1h",
        strategy="ma_crossover",
        params={"fast": str(fast), "slow": "60"},
        use_advisor=True,
        key_id=key_id,
    )
    return result


async def test_stepping_a_parameter_50_times_buys_at_most_the_budget(
    fake_llm: FakeLLM, make_analysis: MakeAnalysis
) -> None:
    fake_llm.set_default(Behaviour.valid("HOLD", 0.9, "stand aside"))
    analysis = await make_analysis(chain(fake_llm))
    key = f"k{uuid.uuid4().hex[:8]}"
    results = [await ask(analysis, fast, key) for fast in range(2, 52)]
    assert fake_llm.calls <= DEFAULT_CALLS_PER_CANDLE
    assert fake_llm.calls == DEFAULT_CALLS_PER_CANDLE  # this chain consults on every candle
    advised = [r for r in results if r.decision.advisor == "paid"]
    skipped = [r for r in results if r.decision.advisor == "skipped:budget"]
    assert len(advised) == DEFAULT_CALLS_PER_CANDLE
    assert len(skipped) == 50 - DEFAULT_CALLS_PER_CANDLE
    for result in skipped:
        # Not an error: the strategy's own signal, marked as skipped for budget.
        assert result.decision.signal == result.decision.strategy_signal
        assert result.decision.outcome == "SKIPPED_BUDGET"
        assert not result.cached


async def test_an_advised_decision_stays_free_to_reread(
    fake_llm: FakeLLM, make_analysis: MakeAnalysis
) -> None:
    fake_llm.set_default(Behaviour.valid("HOLD", 0.9, "stand aside"))
    analysis = await make_analysis(chain(fake_llm))
    key = f"k{uuid.uuid4().hex[:8]}"
    first = await ask(analysis, 7, key)
    for _ in range(20):
        again = await ask(analysis, 7, key)
        assert again.cached and again.decision == first.decision
    assert fake_llm.calls == 1


async def test_budgets_are_per_key_and_a_skip_is_never_shared(
    fake_llm: FakeLLM, make_analysis: MakeAnalysis
) -> None:
    fake_llm.set_default(Behaviour.valid("HOLD", 0.9, "stand aside"))
    analysis = await make_analysis(chain(fake_llm))
    spender, other = f"k{uuid.uuid4().hex[:8]}", f"k{uuid.uuid4().hex[:8]}"
    for fast in range(2, 2 + DEFAULT_CALLS_PER_CANDLE):
        assert (await ask(analysis, fast, spender)).decision.advisor == "paid"
    skipped = await ask(analysis, 40, spender)
    assert skipped.decision.advisor == "skipped:budget"
    # Another key asking the same parameters gets the advised answer it is entitled to.
    advised = await ask(analysis, 40, other)
    assert advised.decision.advisor == "paid" and not advised.cached
    assert fake_llm.calls == DEFAULT_CALLS_PER_CANDLE + 1


async def test_the_count_is_shared_through_redis(redis: Redis) -> None:
    """Two processes' budgets (two instances on one Redis) draw from one count."""
    one, two = AdvisorBudget(redis, 3), AdvisorBudget(redis, 3)
    spot = {
        "key_id": uuid.uuid4().hex,
        "chain": "c",
        "exchange": "binance",
        "market": "BTC-USDT",
        "timeframe": "1m",
        "candle_time_ms": 1_700_000_000_000,
    }
    granted = [await budget.charge(**spot) for budget in (one, two, one, two, one)]
    assert granted == [True, True, True, False, False]
    zero = AdvisorBudget(redis, 0)
    assert not await zero.charge(**spot | {"key_id": uuid.uuid4().hex})
