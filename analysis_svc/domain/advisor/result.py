"""What the advisor answers: the final signal and an honest account of how it got there."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from analysis_svc.domain.signal import Signal

ADVISOR_NONE = "none"
ADVISOR_FALLBACK_STRATEGY = "fallback:strategy"
ADVISOR_FALLBACK_HOLD = "fallback:hold"
# The caller's advisor budget for this candle was spent: the strategy's own signal, no call.
ADVISOR_SKIPPED_BUDGET = "skipped:budget"


class AdvisorOutcome(StrEnum):
    NO_ENDPOINTS = "NO_ENDPOINTS"  # advisor not configured
    SKIPPED_STRATEGY_HOLD = "SKIPPED_STRATEGY_HOLD"  # HOLD cannot be changed: no call made
    SKIPPED_BUDGET = "SKIPPED_BUDGET"  # the caller's calls for this candle are spent
    CONFIRMED = "CONFIRMED"
    WEAKENED = "WEAKENED"
    VETOED = "VETOED"
    HOLD_KEPT = "HOLD_KEPT"
    ALL_FAILED_FALLBACK_STRATEGY = "ALL_FAILED_FALLBACK_STRATEGY"
    ALL_FAILED_FALLBACK_HOLD = "ALL_FAILED_FALLBACK_HOLD"


class EndpointFailure(StrEnum):
    CIRCUIT_OPEN = "CIRCUIT_OPEN"  # skipped, not called
    MISSING_API_KEY = "MISSING_API_KEY"
    TIMEOUT = "TIMEOUT"
    RATE_LIMITED = "RATE_LIMITED"
    SERVER_ERROR = "SERVER_ERROR"
    HTTP_ERROR = "HTTP_ERROR"
    CONNECTION_ERROR = "CONNECTION_ERROR"
    REFUSED = "REFUSED"
    CONTENT_FILTERED = "CONTENT_FILTERED"
    TRUNCATED = "TRUNCATED"
    EMPTY_RESPONSE = "EMPTY_RESPONSE"
    INVALID_JSON = "INVALID_JSON"
    SCHEMA_VIOLATION = "SCHEMA_VIOLATION"
    UNEXPECTED_ERROR = "UNEXPECTED_ERROR"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One endpoint tried (or skipped); `failure` is None when it answered usably."""

    endpoint: str
    failure: EndpointFailure | None
    latency_s: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AdvisorResult:
    signal: Signal  # final, after clamps
    strategy_signal: Signal  # before the advisor
    advisor: str  # endpoint name, "none", "fallback:strategy", "fallback:hold", "skipped:budget"
    outcome: AdvisorOutcome
    attempts: tuple[Attempt, ...] = ()
    prompt_version: str = ""
