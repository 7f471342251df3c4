"""The advisor prompt. Bump PROMPT_VERSION on any change: it is part of the decision
cache key and of every logged model answer."""

from __future__ import annotations

import json
from dataclasses import dataclass

from analysis_svc.domain.signal import Signal

PROMPT_VERSION = "advisor-v1"

_SYSTEM = (
    "You review signals of a rule-based crypto trading strategy as a cautious risk "
    "reviewer. You may confirm the signal, lower its confidence, or answer HOLD to veto "
    "it. Never propose the opposite trade and never size positions. Judge only from the "
    "data given. Answer with a JSON object: action (BUY, SELL or HOLD), confidence "
    "(0 to 1) and a short rationale of at most {max_chars} characters. "
    f"Prompt version: {PROMPT_VERSION}."
)


@dataclass(frozen=True, slots=True)
class AdvisorContext:
    """What the advisor is told besides the signal itself."""

    market: str
    timeframe: str
    candle_time_ms: int
    strategy_name: str
    strategy_params: str  # canonical form, e.g. "fast=10,slow=30"


def build_messages(
    context: AdvisorContext, signal: Signal, max_rationale_chars: int
) -> list[dict[str, str]]:
    facts = {
        "market": context.market,
        "timeframe": context.timeframe,
        "candle_open_time_ms": context.candle_time_ms,
        "strategy": context.strategy_name,
        "strategy_params": context.strategy_params,
        "strategy_signal": {
            "action": signal.action.value,
            "confidence": round(signal.confidence, 4),
            "rationale": signal.rationale,
        },
        "indicators": {k: round(v, 8) for k, v in sorted(signal.indicators.items())},
    }
    return [
        {"role": "system", "content": _SYSTEM.format(max_chars=max_rationale_chars)},
        {"role": "user", "content": json.dumps(facts, sort_keys=True)},
    ]
