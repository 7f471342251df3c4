"""Every advisor failure mode, through Analyze: a real openai client against the scripted
local OpenAI-compatible server. Whatever the model does, Analyze answers, and its signal is
the strategy's, a weaker or vetoed version of it, or HOLD: never a trade the strategy did
not propose."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from analysis_svc.analyze.service import AnalyzeResult
from analysis_svc.domain.signal import Action
from analysis_svc.llm_fake import Behaviour, FakeLLM
from tests.analysis_svc.conftest import MakeAnalysis

TIMEOUT_S = 0.5
FAILURES = {
    "invalid_json": Behaviour.invalid_json(),
    "schema_violation": Behaviour.schema_violation(),
    "refusal": Behaviour.refusal_answer(),
    "content_filter": Behaviour.content_filter(),
    "slow_past_timeout": Behaviour.slow(TIMEOUT_S * 3),
    "server_error": Behaviour.server_error(),
    "rate_limited": Behaviour.rate_limited(),
}


def chain(fake: FakeLLM, *names: str, **policy: Any) -> dict[str, Any]:
    """A chain on the fake server; a fresh model tag per test gives fresh cache keys.
    consult_on_hold makes every Analyze reach the model, whatever the candle says."""
    tag = uuid.uuid4().hex[:8]
    endpoints = [
        {"name": n, "base_url": fake.base_url, "model": f"{tag}-{n}", "timeout_s": TIMEOUT_S}
        for n in names
    ]
    return {"endpoints": endpoints, "consult_on_hold": True, **policy}


# A crossover is rare (its signal is usually HOLD); RSI bands this tight almost always
# trade, so the model meets both a HOLD and a BUY or SELL to second-guess.
RSI_TIGHT = {"period": "3", "oversold": "49", "overbought": "51"}


async def ask(
    analysis: Any, fast: int = 9, strategy: str = "ma_crossover", params: Any = None
) -> AnalyzeResult:
    result: AnalyzeResult = await analysis.analyze(
        market="BTC-USDT",
        timeframe="1h",
        strategy=strategy,
        params=params if params is not None else {"fast": str(fast)},
        use_advisor=True,
    )
    return result


def assert_never_a_new_trade(result: AnalyzeResult) -> None:
    final, own = result.decision.signal, result.decision.strategy_signal
    assert final.action in (own.action, Action.HOLD)
    if final.action is own.action and final.action is not Action.HOLD:
        assert final.confidence <= own.confidence


@pytest.mark.parametrize("mode", sorted(FAILURES))
async def test_a_failing_endpoint_falls_back_to_the_next(
    mode: str, fake_llm: FakeLLM, make_analysis: MakeAnalysis
) -> None:
    fake_llm.script([FAILURES[mode], Behaviour.valid("HOLD", 0.9, "stand aside")])
    analysis = await make_analysis(chain(fake_llm, "first", "second"))
    result = await ask(analysis)
    assert result.decision.advisor == "second"
    assert result.decision.signal.action is Action.HOLD  # confirmed HOLD, or a veto
    assert_never_a_new_trade(result)


@pytest.mark.parametrize(
    ("policy", "advisor"), [("strategy", "fallback:strategy"), ("hold", "fallback:hold")]
)
async def test_when_every_endpoint_fails_the_policy_decides(
    policy: str, advisor: str, fake_llm: FakeLLM, make_analysis: MakeAnalysis
) -> None:
    fake_llm.script([Behaviour.rate_limited(), Behaviour.invalid_json()])
    analysis = await make_analysis(chain(fake_llm, "a", "b", on_all_failed=policy))
    result = await ask(analysis)
    assert result.decision.advisor == advisor
    if policy == "strategy":
        assert result.decision.signal == result.decision.strategy_signal
    else:
        assert result.decision.signal.action is Action.HOLD
    assert fake_llm.calls == 2


@pytest.mark.parametrize("says", ["BUY", "SELL"])
@pytest.mark.parametrize("strategy", ["ma_crossover", "rsi_mean_reversion"])
async def test_the_model_cannot_propose_a_trade(
    says: str, strategy: str, fake_llm: FakeLLM, make_analysis: MakeAnalysis
) -> None:
    fake_llm.set_default(Behaviour.valid(says, 1.0, "all in"))
    analysis = await make_analysis(chain(fake_llm, "bold"))
    params = RSI_TIGHT if strategy == "rsi_mean_reversion" else None
    result = await ask(analysis, strategy=strategy, params=params)
    assert result.decision.advisor == "bold"
    assert_never_a_new_trade(result)
    own = result.decision.strategy_signal.action
    if own is not Action.HOLD and own.value != says:  # the model said the opposite
        assert result.decision.signal.action is Action.HOLD
        assert result.decision.outcome == "VETOED"


async def test_the_circuit_opens_and_half_opens(
    fake_llm: FakeLLM, make_analysis: MakeAnalysis
) -> None:
    fake_llm.script([Behaviour.server_error()])  # then the default: a valid HOLD
    config = chain(fake_llm, "flaky", "steady", failure_threshold=1, cooldown_s=0.5)
    analysis = await make_analysis(config)
    models = [e["model"] for e in config["endpoints"]]

    first = await ask(analysis, fast=9)  # flaky fails once: its circuit opens
    assert first.decision.advisor == "steady"
    second = await ask(analysis, fast=10)  # another decision: flaky is skipped, not called
    assert second.decision.advisor == "steady"
    assert [r["body"]["model"] for r in fake_llm.requests] == [models[0], models[1], models[1]]

    await asyncio.sleep(0.6)  # cool-down over: one probe goes to flaky, and it answers
    third = await ask(analysis, fast=11)
    assert third.decision.advisor == "flaky"
    assert fake_llm.requests[-1]["body"]["model"] == models[0]
