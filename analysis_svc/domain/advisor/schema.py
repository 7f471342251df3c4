"""The advice JSON schema sent as structured output, and our own re-validation of it.

The provider's strict mode is a hint we cannot verify; everything the model returns is
checked again here, and any deviation is that endpoint's failure.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from analysis_svc.domain.signal import Action

SCHEMA_NAME = "trade_advice"


@dataclass(frozen=True, slots=True)
class Advice:
    action: Action
    confidence: float
    rationale: str


class AdviceRejected(Exception):
    """The model's answer is unusable; `reason` is the endpoint failure to record."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def advice_schema(max_rationale_chars: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": [a.value for a in Action]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "rationale": {"type": "string", "maxLength": max_rationale_chars},
        },
        "required": ["action", "confidence", "rationale"],
        "additionalProperties": False,
    }


def response_format(max_rationale_chars: int) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {
            "name": SCHEMA_NAME,
            "strict": True,
            "schema": advice_schema(max_rationale_chars),
        },
    }


def parse_advice(content: str | None, max_rationale_chars: int) -> Advice:
    """Parses and validates the model's JSON; raises AdviceRejected on any deviation."""
    if not content or not content.strip():
        raise AdviceRejected("EMPTY_RESPONSE", "no content")
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise AdviceRejected("INVALID_JSON", str(exc)) from None
    if not isinstance(data, dict):
        raise AdviceRejected("SCHEMA_VIOLATION", "not a JSON object")
    if set(data) != {"action", "confidence", "rationale"}:
        raise AdviceRejected("SCHEMA_VIOLATION", f"keys {sorted(data)}")
    action, confidence, rationale = data["action"], data["confidence"], data["rationale"]
    if not isinstance(action, str) or action not in Action.__members__:
        raise AdviceRejected("SCHEMA_VIOLATION", f"action {action!r}")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise AdviceRejected("SCHEMA_VIOLATION", f"confidence {confidence!r}")
    if not (math.isfinite(confidence) and 0.0 <= confidence <= 1.0):
        raise AdviceRejected("SCHEMA_VIOLATION", f"confidence {confidence!r} outside [0, 1]")
    if not isinstance(rationale, str) or len(rationale) > max_rationale_chars:
        raise AdviceRejected("SCHEMA_VIOLATION", "rationale missing or too long")
    return Advice(Action(action), float(confidence), rationale)
