"""Deterministic risk clamps applied after the model, whatever it said.

The model may confirm, weaken or veto the strategy's signal; it can never flip it,
raise its confidence, or turn a HOLD into a trade.
"""

from __future__ import annotations

from enum import StrEnum

from analysis_svc.domain.advisor.schema import Advice
from analysis_svc.domain.signal import HOLD_CONFIDENCE, Action, Signal

MAX_RATIONALE_CHARS = 512  # the decisions table's column


class ClampOutcome(StrEnum):
    CONFIRMED = "CONFIRMED"  # same action, confidence kept
    WEAKENED = "WEAKENED"  # same action, lower confidence
    VETOED = "VETOED"  # BUY/SELL turned into HOLD (model said HOLD or the opposite)
    HOLD_KEPT = "HOLD_KEPT"  # strategy said HOLD; nothing the model says changes that


def clamp(strategy: Signal, advice: Advice, endpoint: str) -> tuple[Signal, ClampOutcome]:
    if strategy.action is Action.HOLD:
        note = f"{strategy.rationale} | advisor {endpoint} ({advice.action}): {advice.rationale}"
        return _with(strategy, Action.HOLD, strategy.confidence, note), ClampOutcome.HOLD_KEPT
    if advice.action is strategy.action:
        confidence = min(strategy.confidence, advice.confidence)
        outcome = (
            ClampOutcome.WEAKENED if confidence < strategy.confidence else ClampOutcome.CONFIRMED
        )
        note = f"{strategy.rationale} | advisor {endpoint}: {advice.rationale}"
        return _with(strategy, strategy.action, confidence, note), outcome
    note = f"advisor {endpoint} vetoed {strategy.action} ({advice.action}): {advice.rationale}"
    return _with(strategy, Action.HOLD, HOLD_CONFIDENCE, note), ClampOutcome.VETOED


def _with(base: Signal, action: Action, confidence: float, rationale: str) -> Signal:
    return Signal(action, confidence, rationale[:MAX_RATIONALE_CHARS], base.indicators)
