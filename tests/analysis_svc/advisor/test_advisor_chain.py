"""The advisor through the real openai client against the loopback fake LLM: every
failure mode ends as documented, never as an exception or a trade the strategy refused."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable

import pytest

from analysis_svc.advisor.chain import Advisor
from analysis_svc.domain.advisor import (
    ADVISOR_FALLBACK_HOLD,
    ADVISOR_FALLBACK_STRATEGY,
    ADVISOR_NONE,
    PROMPT_VERSION,
    AdvisorConfig,
    AdvisorContext,
    AdvisorOutcome,
    CircuitState,
    EndpointConfig,
    EndpointFailure,
    FallbackPolicy,
)
from analysis_svc.domain.signal import Action, Signal
from analysis_svc.llm_fake import Behaviour, FakeLLM

SECRET = "sk-test-secret-never-logged"
CTX = AdvisorContext("BTC-USDT", "1h", 1_700_000_000_000, "rsi_mean_reversion", "period=14")
KEYS = {"PRIMARY_KEY": SECRET, "SECONDARY_KEY": "sk-secondary"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def sig(action: Action, confidence: float = 0.8) -> Signal:
    return Signal(action, confidence, "RSI(14) 22.0 below oversold 30", {"rsi_14": 22.0})


def endpoint(name: str, server: FakeLLM | str, timeout_s: float = 2.0) -> EndpointConfig:
    url = server if isinstance(server, str) else server.base_url
    return EndpointConfig(name, url, f"model-{name}", f"{name.upper()}_KEY", timeout_s)


AdvisorFactory = Callable[..., Advisor]


@pytest.fixture
async def make_advisor() -> AsyncIterator[AdvisorFactory]:
    made: list[Advisor] = []

    def factory(
        *endpoints: EndpointConfig, clock: FakeClock | None = None, **cfg: object
    ) -> Advisor:
        config = AdvisorConfig(tuple(endpoints), **cfg)  # type: ignore[arg-type]
        advisor = Advisor(config, resolve_key=KEYS.get, clock=clock or FakeClock())
        made.append(advisor)
        return advisor

    yield factory
    for advisor in made:
        await advisor.aclose()


async def test_confirm_sends_strict_schema_and_prompt_version(
    fake_llm: FakeLLM, make_advisor: AdvisorFactory
) -> None:
    fake_llm.script([Behaviour.valid("BUY", 0.95, "trend supports it")])
    advisor = make_advisor(endpoint("primary", fake_llm))
    result = await advisor.advise(CTX, sig(Action.BUY, 0.8))
    assert result.signal.action is Action.BUY and result.signal.confidence == 0.8
    assert (result.advisor, result.outcome) == ("primary", AdvisorOutcome.CONFIRMED)
    assert result.prompt_version == PROMPT_VERSION
    assert "trend supports it" in result.signal.rationale
    body = fake_llm.requests[0]["body"]
    assert body["model"] == "model-primary"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert PROMPT_VERSION in body["messages"][0]["content"]
    assert fake_llm.requests[0]["authorization"] == f"Bearer {SECRET}"


@pytest.mark.parametrize(
    ("model", "expected", "outcome"),
    [
        (Behaviour.valid("BUY", 0.3), Action.BUY, AdvisorOutcome.WEAKENED),
        (Behaviour.valid("HOLD", 0.9), Action.HOLD, AdvisorOutcome.VETOED),
        (Behaviour.valid("SELL", 0.99), Action.HOLD, AdvisorOutcome.VETOED),
    ],
)
async def test_weaken_and_veto_never_flip(
    fake_llm: FakeLLM,
    make_advisor: AdvisorFactory,
    model: Behaviour,
    expected: Action,
    outcome: AdvisorOutcome,
) -> None:
    fake_llm.set_default(model)
    result = await make_advisor(endpoint("primary", fake_llm)).advise(CTX, sig(Action.BUY))
    assert (result.signal.action, result.outcome) == (expected, outcome)
    assert result.signal.confidence <= 0.8


@pytest.mark.parametrize(
    ("behaviour", "failure"),
    [
        (Behaviour.invalid_json(), EndpointFailure.INVALID_JSON),
        (
            Behaviour.schema_violation(action="YOLO", confidence=0.5),
            EndpointFailure.SCHEMA_VIOLATION,
        ),
        (Behaviour.schema_violation(action="BUY", confidence=7), EndpointFailure.SCHEMA_VIOLATION),
        (Behaviour.refusal_answer(), EndpointFailure.REFUSED),
        (Behaviour.content_filter(), EndpointFailure.CONTENT_FILTERED),
        (Behaviour.raw('{"action": "BUY"', finish_reason="length"), EndpointFailure.TRUNCATED),
        (Behaviour.server_error(), EndpointFailure.SERVER_ERROR),
        (Behaviour.rate_limited(retry_after=5), EndpointFailure.RATE_LIMITED),
        (Behaviour.http_error(404), EndpointFailure.HTTP_ERROR),
    ],
)
async def test_each_failure_falls_back_to_next_endpoint(
    fake_llm: FakeLLM,
    fake_llm_2: FakeLLM,
    make_advisor: AdvisorFactory,
    behaviour: Behaviour,
    failure: EndpointFailure,
) -> None:
    fake_llm.set_default(behaviour)
    fake_llm_2.set_default(Behaviour.valid("BUY", 0.6, "secondary agrees"))
    advisor = make_advisor(endpoint("primary", fake_llm), endpoint("secondary", fake_llm_2))
    result = await advisor.advise(CTX, sig(Action.BUY))
    assert result.advisor == "secondary" and result.outcome is AdvisorOutcome.WEAKENED
    assert result.signal.action is Action.BUY and result.signal.confidence == 0.6
    assert [a.failure for a in result.attempts] == [failure, None]
    assert fake_llm.calls == 1  # one call: client retries are off


async def test_timeout_is_respected(
    fake_llm: FakeLLM, fake_llm_2: FakeLLM, make_advisor: AdvisorFactory
) -> None:
    fake_llm.set_default(Behaviour.slow(2.0, Behaviour.valid("SELL", 0.9)))
    fake_llm_2.set_default(Behaviour.valid("BUY", 0.7))
    advisor = make_advisor(
        endpoint("primary", fake_llm, timeout_s=0.3), endpoint("secondary", fake_llm_2)
    )
    started = time.monotonic()
    result = await advisor.advise(CTX, sig(Action.BUY))
    assert time.monotonic() - started < 1.5
    assert result.attempts[0].failure is EndpointFailure.TIMEOUT
    assert (result.advisor, result.signal.action) == ("secondary", Action.BUY)


@pytest.mark.parametrize(
    ("policy", "action", "label", "outcome"),
    [
        (
            FallbackPolicy.STRATEGY,
            Action.BUY,
            ADVISOR_FALLBACK_STRATEGY,
            AdvisorOutcome.ALL_FAILED_FALLBACK_STRATEGY,
        ),
        (
            FallbackPolicy.HOLD,
            Action.HOLD,
            ADVISOR_FALLBACK_HOLD,
            AdvisorOutcome.ALL_FAILED_FALLBACK_HOLD,
        ),
    ],
)
async def test_all_endpoints_fail(
    fake_llm: FakeLLM,
    fake_llm_2: FakeLLM,
    make_advisor: AdvisorFactory,
    policy: FallbackPolicy,
    action: Action,
    label: str,
    outcome: AdvisorOutcome,
) -> None:
    fake_llm.set_default(Behaviour.server_error())
    fake_llm_2.set_default(Behaviour.refusal_answer())
    advisor = make_advisor(
        endpoint("primary", fake_llm), endpoint("secondary", fake_llm_2), on_all_failed=policy
    )
    strategy_signal = sig(Action.BUY)
    result = await advisor.advise(CTX, strategy_signal)
    assert (result.signal.action, result.advisor, result.outcome) == (action, label, outcome)
    assert result.strategy_signal == strategy_signal
    if policy is FallbackPolicy.STRATEGY:
        assert result.signal == strategy_signal
    assert "unavailable" in result.signal.rationale or policy is FallbackPolicy.STRATEGY


async def test_circuit_opens_then_half_opens_with_one_probe(
    fake_llm: FakeLLM, fake_llm_2: FakeLLM, make_advisor: AdvisorFactory
) -> None:
    clock = FakeClock()
    fake_llm.set_default(Behaviour.server_error())
    fake_llm_2.set_default(Behaviour.valid("BUY", 0.5))
    advisor = make_advisor(
        endpoint("primary", fake_llm),
        endpoint("secondary", fake_llm_2),
        clock=clock,
        failure_threshold=2,
        cooldown_s=30.0,
    )
    for _ in range(2):
        await advisor.advise(CTX, sig(Action.BUY))
    assert advisor.breaker("primary").state is CircuitState.OPEN and fake_llm.calls == 2

    result = await advisor.advise(CTX, sig(Action.BUY))  # primary skipped, not called
    assert fake_llm.calls == 2
    assert result.attempts[0].failure is EndpointFailure.CIRCUIT_OPEN
    assert result.advisor == "secondary"

    clock.now += 31.0  # cool-down over: one probe; it fails and re-opens the circuit
    await advisor.advise(CTX, sig(Action.BUY))
    assert fake_llm.calls == 3 and advisor.breaker("primary").state is CircuitState.OPEN
    await advisor.advise(CTX, sig(Action.BUY))
    assert fake_llm.calls == 3

    clock.now += 31.0  # next probe succeeds and closes it
    fake_llm.set_default(Behaviour.valid("BUY", 0.9))
    result = await advisor.advise(CTX, sig(Action.BUY))
    assert result.advisor == "primary" and fake_llm.calls == 4
    assert advisor.breaker("primary").state is CircuitState.CLOSED


async def test_all_circuits_open_falls_back_without_calls(
    fake_llm: FakeLLM, make_advisor: AdvisorFactory
) -> None:
    fake_llm.set_default(Behaviour.rate_limited())
    advisor = make_advisor(endpoint("primary", fake_llm), failure_threshold=1)
    await advisor.advise(CTX, sig(Action.SELL))
    result = await advisor.advise(CTX, sig(Action.SELL))
    assert fake_llm.calls == 1
    assert result.advisor == ADVISOR_FALLBACK_STRATEGY and result.signal.action is Action.SELL


async def test_strategy_hold_is_not_sent_unless_asked(
    fake_llm: FakeLLM, make_advisor: AdvisorFactory
) -> None:
    fake_llm.set_default(Behaviour.valid("BUY", 1.0))
    skipped = await make_advisor(endpoint("primary", fake_llm)).advise(CTX, sig(Action.HOLD))
    assert (skipped.advisor, skipped.outcome) == (
        ADVISOR_NONE,
        AdvisorOutcome.SKIPPED_STRATEGY_HOLD,
    )
    assert fake_llm.calls == 0
    advisor = make_advisor(endpoint("primary", fake_llm), consult_on_hold=True)
    consulted = await advisor.advise(CTX, sig(Action.HOLD, 0.5))
    assert consulted.signal.action is Action.HOLD and consulted.signal.confidence == 0.5
    assert consulted.outcome is AdvisorOutcome.HOLD_KEPT and fake_llm.calls == 1


async def test_no_trade_the_strategy_did_not_allow(
    fake_llm: FakeLLM, make_advisor: AdvisorFactory
) -> None:
    answers = [
        Behaviour.valid("BUY", 1.0),
        Behaviour.valid("SELL", 1.0),
        Behaviour.valid("HOLD", 1.0),
        Behaviour.schema_violation(),
        Behaviour.refusal_answer(),
        Behaviour.server_error(),
    ]
    advisor = make_advisor(
        endpoint("primary", fake_llm), consult_on_hold=True, failure_threshold=1000
    )
    for strategy_action in Action:
        for answer in answers:
            fake_llm.set_default(answer)
            result = await advisor.advise(CTX, sig(strategy_action))
            assert result.signal.action in {strategy_action, Action.HOLD}
            assert result.signal.confidence <= 0.8 or result.signal.action is Action.HOLD


async def test_raw_output_logged_without_key(
    fake_llm: FakeLLM, make_advisor: AdvisorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    fake_llm.script([Behaviour.valid("BUY", 0.7, "distinctive-rationale-42")])
    with caplog.at_level(logging.INFO, logger="botmesh.analysis.advisor"):
        await make_advisor(endpoint("primary", fake_llm)).advise(CTX, sig(Action.BUY))
    records = [r for r in caplog.records if r.name == "botmesh.analysis.advisor"]
    text = "\n".join(r.getMessage() for r in records)
    assert "distinctive-rationale-42" in text and PROMPT_VERSION in text
    assert SECRET not in caplog.text


async def test_missing_key_and_unreachable_endpoint_are_failures(
    fake_llm: FakeLLM, make_advisor: AdvisorFactory
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    no_key = EndpointConfig("nokey", fake_llm.base_url, "m", "UNSET_KEY_REF", 2.0)
    fake_llm.set_default(Behaviour.valid("SELL", 0.4))
    dead = EndpointConfig("dead", dead_url, "m", "PRIMARY_KEY", 2.0)
    advisor = make_advisor(no_key, dead, endpoint("primary", fake_llm))
    result = await advisor.advise(CTX, sig(Action.SELL))
    assert [a.failure for a in result.attempts] == [
        EndpointFailure.MISSING_API_KEY,
        EndpointFailure.CONNECTION_ERROR,
        None,
    ]
    assert result.advisor == "primary" and fake_llm.calls == 1


async def test_unexpected_bug_never_raises(fake_llm: FakeLLM) -> None:
    def broken_factory(*_: object) -> object:
        raise RuntimeError("bug in client construction")

    advisor = Advisor(
        AdvisorConfig((endpoint("primary", fake_llm),)),
        resolve_key=KEYS.get,
        client_factory=broken_factory,  # type: ignore[arg-type]
    )
    result = await advisor.advise(CTX, sig(Action.BUY))
    assert result.advisor == ADVISOR_FALLBACK_STRATEGY and result.signal.action is Action.BUY
    assert result.attempts[0].failure is EndpointFailure.UNEXPECTED_ERROR


async def test_no_endpoints_means_none() -> None:
    result = await Advisor(AdvisorConfig()).advise(CTX, sig(Action.BUY))
    assert (result.advisor, result.outcome) == (ADVISOR_NONE, AdvisorOutcome.NO_ENDPOINTS)


async def test_caller_cancellation_propagates_and_is_not_a_failure(
    fake_llm: FakeLLM, make_advisor: AdvisorFactory
) -> None:
    fake_llm.set_default(Behaviour.slow(2.0))
    advisor = make_advisor(endpoint("primary", fake_llm), failure_threshold=1)
    task = asyncio.create_task(advisor.advise(CTX, sig(Action.BUY)))
    await asyncio.sleep(0.3)  # the 2 s call is in flight
    assert fake_llm.calls == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert advisor.breaker("primary").state is CircuitState.CLOSED
    assert advisor.breaker("primary").consecutive_failures == 0
