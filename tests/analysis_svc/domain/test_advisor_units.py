"""Advisor building blocks without a network: clamps, schema validation, breaker, config."""

from __future__ import annotations

import itertools
import json

import pytest

from analysis_svc.domain.advisor import (
    PROMPT_VERSION,
    Advice,
    AdviceRejected,
    AdvisorConfig,
    AdvisorContext,
    CircuitBreaker,
    CircuitState,
    ClampOutcome,
    EndpointConfig,
    FallbackPolicy,
    build_messages,
    clamp,
    parse_advice,
)
from analysis_svc.domain.advisor.schema import response_format
from analysis_svc.domain.signal import Action, Signal


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sig(action: Action, confidence: float = 0.8) -> Signal:
    return Signal(action, confidence, "strategy says so", {"rsi_14": 25.0})


@pytest.mark.parametrize(
    ("strategy", "model", "expected", "outcome"),
    [
        (Action.BUY, Action.BUY, Action.BUY, ClampOutcome.CONFIRMED),
        (Action.SELL, Action.SELL, Action.SELL, ClampOutcome.CONFIRMED),
        (Action.BUY, Action.HOLD, Action.HOLD, ClampOutcome.VETOED),
        (Action.BUY, Action.SELL, Action.HOLD, ClampOutcome.VETOED),
        (Action.SELL, Action.BUY, Action.HOLD, ClampOutcome.VETOED),
        (Action.HOLD, Action.BUY, Action.HOLD, ClampOutcome.HOLD_KEPT),
        (Action.HOLD, Action.SELL, Action.HOLD, ClampOutcome.HOLD_KEPT),
    ],
)
def test_clamp_never_flips(
    strategy: Action, model: Action, expected: Action, outcome: ClampOutcome
) -> None:
    final, got = clamp(sig(strategy), Advice(model, 0.95, "model view"), "primary")
    assert (final.action, got) == (expected, outcome)
    assert final.indicators == {"rsi_14": 25.0}


def test_clamp_confidence_can_only_go_down() -> None:
    raised, outcome = clamp(sig(Action.BUY, 0.6), Advice(Action.BUY, 0.99, "sure"), "p")
    assert raised.confidence == 0.6 and outcome is ClampOutcome.CONFIRMED
    lowered, outcome = clamp(sig(Action.BUY, 0.6), Advice(Action.BUY, 0.2, "meh"), "p")
    assert lowered.confidence == 0.2 and outcome is ClampOutcome.WEAKENED


def test_clamp_exhaustive_allowed_actions() -> None:
    for strategy, model in itertools.product(Action, Action):
        final, _ = clamp(sig(strategy), Advice(model, 0.5, "x"), "p")
        assert final.action in {strategy, Action.HOLD}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "EMPTY_RESPONSE"),
        ("", "EMPTY_RESPONSE"),
        ("{not json", "INVALID_JSON"),
        ("[1, 2]", "SCHEMA_VIOLATION"),
        ('{"action": "YOLO", "confidence": 0.5, "rationale": "x"}', "SCHEMA_VIOLATION"),
        ('{"action": "BUY", "confidence": 7, "rationale": "x"}', "SCHEMA_VIOLATION"),
        ('{"action": "BUY", "confidence": "high", "rationale": "x"}', "SCHEMA_VIOLATION"),
        ('{"action": "BUY", "confidence": true, "rationale": "x"}', "SCHEMA_VIOLATION"),
        ('{"action": "BUY", "confidence": NaN, "rationale": "x"}', "SCHEMA_VIOLATION"),
        ('{"action": "BUY", "confidence": 0.5}', "SCHEMA_VIOLATION"),
        ('{"action": "BUY", "confidence": 0.5, "rationale": "x", "size": 10}', "SCHEMA_VIOLATION"),
        ('{"action": "buy", "confidence": 0.5, "rationale": "x"}', "SCHEMA_VIOLATION"),
        (
            json.dumps({"action": "BUY", "confidence": 0.5, "rationale": "x" * 281}),
            "SCHEMA_VIOLATION",
        ),
    ],
)
def test_parse_advice_rejects(content: str | None, reason: str) -> None:
    with pytest.raises(AdviceRejected) as err:
        parse_advice(content, 280)
    assert err.value.reason == reason


def test_parse_advice_accepts_integers_and_bounds() -> None:
    assert parse_advice('{"action":"SELL","confidence":1,"rationale":""}', 280) == Advice(
        Action.SELL, 1.0, ""
    )


def test_response_format_is_strict_json_schema() -> None:
    rf = response_format(200)
    assert rf["type"] == "json_schema" and rf["json_schema"]["strict"] is True
    schema = rf["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["action"]["enum"] == ["BUY", "SELL", "HOLD"]
    assert schema["properties"]["confidence"] == {"type": "number", "minimum": 0, "maximum": 1}
    assert schema["properties"]["rationale"]["maxLength"] == 200


def test_breaker_opens_half_opens_and_closes() -> None:
    clock = FakeClock()
    b = CircuitBreaker(failure_threshold=3, cooldown_s=30, clock=clock)
    for _ in range(2):
        assert b.try_acquire()
        b.record_failure()
    assert b.state is CircuitState.CLOSED
    b.record_success()  # resets the consecutive count
    for _ in range(3):
        assert b.try_acquire()
        b.record_failure()
    assert b.state is CircuitState.OPEN and not b.try_acquire()
    clock.now += 29.9
    assert not b.try_acquire()
    clock.now += 0.2
    assert b.state is CircuitState.HALF_OPEN
    assert b.try_acquire()  # the one probe
    assert not b.try_acquire()  # concurrent callers do not probe too
    b.record_failure()  # probe failed: open again for a full cool-down
    assert b.state is CircuitState.OPEN
    clock.now += 30
    assert b.try_acquire()
    b.record_success()
    assert b.state is CircuitState.CLOSED and b.try_acquire()


def test_breaker_abandoned_probe_can_be_retried() -> None:
    clock = FakeClock()
    b = CircuitBreaker(1, 10, clock)
    b.record_failure()
    clock.now += 10
    assert b.try_acquire()
    b.abandon()
    assert b.state is CircuitState.HALF_OPEN and b.try_acquire()


def test_config_identity_and_validation() -> None:
    a = AdvisorConfig((EndpointConfig("p", "http://x/v1", "m", "KEY", 5.0),))
    b = AdvisorConfig((EndpointConfig("p", "http://x/v1", "m", "OTHER_KEY", 9.0),))
    c = AdvisorConfig((EndpointConfig("p", "http://x/v1", "m2", "KEY", 5.0),))
    assert a.identity() == b.identity() != c.identity()  # keys and timeouts do not count
    assert a.identity() != AdvisorConfig(a.endpoints, on_all_failed=FallbackPolicy.HOLD).identity()
    with pytest.raises(ValueError):
        AdvisorConfig((a.endpoints[0], a.endpoints[0]))
    with pytest.raises(ValueError):
        EndpointConfig("p", "http://x/v1", "m", timeout_s=0)
    endpoint = {"name": "p", "base_url": "http://x/v1", "model": "m", "api_key_ref": "KEY"}
    parsed = AdvisorConfig.from_dict(
        {"endpoints": [{**endpoint, "timeout_s": 5.0}], "on_all_failed": "hold"}
    )
    assert parsed.on_all_failed is FallbackPolicy.HOLD and parsed.endpoints == a.endpoints


def test_prompt_carries_version_and_facts() -> None:
    ctx = AdvisorContext("BTC-USDT", "1h", 1_700_000_000_000, "rsi_mean_reversion", "period=14")
    messages = build_messages(ctx, sig(Action.BUY), 280)
    assert PROMPT_VERSION in messages[0]["content"] and "280" in messages[0]["content"]
    facts = json.loads(messages[1]["content"])
    assert facts["market"] == "BTC-USDT" and facts["strategy_signal"]["action"] == "BUY"
    assert facts["indicators"] == {"rsi_14": 25.0}
