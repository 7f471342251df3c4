"""The advisor's circuit breakers as a metric: an LLM endpoint that keeps failing opens its
breaker, and `botmesh_circuit_breakers_open{breaker="advisor_endpoint"}` counts it until
the cool-down ends; the process's own advisor (BOTMESH_LLM_ENDPOINTS) is exported."""

from __future__ import annotations

import json

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from analysis_svc.advisor.chain import Advisor
from analysis_svc.advisor.metrics import ADVISOR_BREAKER, AdvisorMetrics
from analysis_svc.advisor.settings import advisor_from_json
from analysis_svc.domain.advisor import AdvisorConfig, EndpointConfig
from analysis_svc.domain.advisor.prompt import AdvisorContext
from analysis_svc.domain.signal import Action, Signal
from analysis_svc.llm_fake import Behaviour, FakeLLM
from mesh.metrics import CircuitBreakers
from tests.e2e.metrics_support import parse

CTX = AdvisorContext("BTC-USDT", "1h", 1_700_000_000_000, "rsi_mean_reversion", "period=14")
BUY = Signal(Action.BUY, 0.8, "RSI(14) 22.0 below oversold 30", {"rsi_14": 22.0})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def open_breakers(registry: CollectorRegistry) -> float:
    scraped = parse(generate_latest(registry).decode())
    return scraped.value("botmesh_circuit_breakers_open", breaker=ADVISOR_BREAKER)


async def test_a_failing_endpoint_opens_its_breaker_and_the_gauge_counts_it(
    fake_llm: FakeLLM, fake_llm_2: FakeLLM
) -> None:
    fake_llm.set_default(Behaviour.server_error())
    fake_llm_2.set_default(Behaviour.valid("BUY", 0.5))
    clock = Clock()
    config = AdvisorConfig(
        (
            EndpointConfig("primary", fake_llm.base_url, "m"),
            EndpointConfig("secondary", fake_llm_2.base_url, "m"),
        ),
        failure_threshold=2,
        cooldown_s=30.0,
    )
    advisor = Advisor(config, clock=clock)
    metrics, breakers, registry = AdvisorMetrics(), CircuitBreakers(), CollectorRegistry()
    breakers.register(ADVISOR_BREAKER, metrics.open_breakers)
    registry.register(breakers)  # type: ignore[arg-type]
    metrics.watch(advisor)
    try:
        assert open_breakers(registry) == 0
        await advisor.advise(CTX, BUY)
        assert open_breakers(registry) == 0, "one failure is under the threshold"
        await advisor.advise(CTX, BUY)
        assert open_breakers(registry) == 1, "the primary's breaker is open"
        clock.now += 31  # the cool-down ended: half-open is no longer counted as open
        assert open_breakers(registry) == 0
    finally:
        await advisor.aclose()


async def test_the_processs_advisor_is_exported_from_its_settings(fake_llm: FakeLLM) -> None:
    advisor = advisor_from_json(
        json.dumps([{"name": "a", "base_url": fake_llm.base_url, "model": "m"}])
    )
    assert advisor is not None
    try:
        assert (
            REGISTRY.get_sample_value("botmesh_circuit_breakers_open", {"breaker": ADVISOR_BREAKER})
            is not None
        )
        assert advisor_from_json("") is None
    finally:
        await advisor.aclose()
