"""The optional LLM advisor's pure parts: its configuration, prompt, answer schema, clamps,
circuit breaker and outcomes. The chain that calls the endpoints is analysis_svc/advisor/chain.py."""

from analysis_svc.domain.advisor.circuit_breaker import CircuitBreaker, CircuitState
from analysis_svc.domain.advisor.clamp import ClampOutcome, clamp
from analysis_svc.domain.advisor.config import AdvisorConfig, EndpointConfig, FallbackPolicy
from analysis_svc.domain.advisor.prompt import PROMPT_VERSION, AdvisorContext, build_messages
from analysis_svc.domain.advisor.result import (
    ADVISOR_FALLBACK_HOLD,
    ADVISOR_FALLBACK_STRATEGY,
    ADVISOR_NONE,
    AdvisorOutcome,
    AdvisorResult,
    Attempt,
    EndpointFailure,
)
from analysis_svc.domain.advisor.schema import Advice, AdviceRejected, parse_advice

__all__ = [
    "ADVISOR_FALLBACK_HOLD",
    "ADVISOR_FALLBACK_STRATEGY",
    "ADVISOR_NONE",
    "PROMPT_VERSION",
    "Advice",
    "AdviceRejected",
    "AdvisorConfig",
    "AdvisorContext",
    "AdvisorOutcome",
    "AdvisorResult",
    "Attempt",
    "CircuitBreaker",
    "CircuitState",
    "ClampOutcome",
    "EndpointConfig",
    "EndpointFailure",
    "FallbackPolicy",
    "build_messages",
    "clamp",
    "parse_advice",
]
