"""What a strategy (and, after the clamps, the advisor) tells a bot to do."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

# Vectorised signal series: +1 BUY, -1 SELL, 0 HOLD (also during indicator warm-up).
SignalSeries = npt.NDArray[np.int8]

HOLD_CONFIDENCE = 0.5  # a HOLD is neutral, neither conviction nor doubt


class Action(StrEnum):
    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"

    @classmethod
    def from_code(cls, code: int) -> Action:
        """Maps a SignalSeries value to an Action."""
        return cls.BUY if code > 0 else cls.SELL if code < 0 else cls.HOLD


@dataclass(frozen=True, slots=True)
class Signal:
    """A signal; `indicators` are the values the decision was based on."""

    action: Action
    confidence: float
    rationale: str
    indicators: Mapping[str, float] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.confidence) and 0.0 <= self.confidence <= 1.0):
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "confidence": self.confidence,
            "rationale": self.rationale,
            "indicators": dict(self.indicators),
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> Signal:
        return cls(
            Action(data["action"]),
            float(data["confidence"]),
            str(data["rationale"]),
            {str(k): float(v) for k, v in data.get("indicators", {}).items()},
        )


def clip_confidence(value: float) -> float:
    """Clamps into [0, 1]; NaN becomes the neutral HOLD confidence."""
    if not math.isfinite(value):
        return HOLD_CONFIDENCE if math.isnan(value) else (1.0 if value > 0 else 0.0)
    return min(1.0, max(0.0, value))
