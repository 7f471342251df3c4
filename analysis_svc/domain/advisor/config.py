"""Advisor configuration: an ordered chain of OpenAI-compatible endpoints.

Keys never live in config: `api_key_ref` names an environment variable (or other secret
reference resolved by the injected resolver), so configs can be logged and hashed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FallbackPolicy(StrEnum):
    """What to answer when every endpoint failed."""

    STRATEGY = "strategy"  # the strategy's own signal
    HOLD = "hold"  # do nothing


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    name: str
    base_url: str
    model: str
    api_key_ref: str = ""  # "" means the endpoint needs no key (e.g. a local server)
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.name or not self.base_url or not self.model:
            raise ValueError("endpoint name, base_url and model are required")
        if not 0.0 < self.timeout_s <= 300.0:
            raise ValueError(f"endpoint {self.name}: timeout_s must be in (0, 300]")


@dataclass(frozen=True, slots=True)
class AdvisorConfig:
    endpoints: tuple[EndpointConfig, ...] = ()
    failure_threshold: int = 3  # consecutive failures that open an endpoint's circuit
    cooldown_s: float = 30.0  # open -> half-open after this long
    on_all_failed: FallbackPolicy = FallbackPolicy.STRATEGY
    consult_on_hold: bool = False  # the model cannot change a HOLD, so skip the call
    max_rationale_chars: int = 280

    def __post_init__(self) -> None:
        names = [e.name for e in self.endpoints]
        if len(set(names)) != len(names):
            raise ValueError("endpoint names must be unique")
        if self.failure_threshold < 1 or self.cooldown_s < 0:
            raise ValueError("failure_threshold must be >= 1 and cooldown_s >= 0")
        if not 16 <= self.max_rationale_chars <= 500:
            raise ValueError("max_rationale_chars must be in [16, 500]")

    def identity(self) -> str:
        """Short stable hash of what shapes the answer: the chain and its policy.

        Part of the decision cache key, so changing a model or the fallback policy
        invalidates cached decisions; keys and timeouts are deliberately left out.
        """
        data = {
            "endpoints": [[e.name, e.base_url, e.model] for e in self.endpoints],
            "fallback": self.on_all_failed.value,
            "consult_on_hold": self.consult_on_hold,
            "max_rationale_chars": self.max_rationale_chars,
        }
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AdvisorConfig:
        """From parsed JSON/YAML, e.g. {"endpoints": [{"name": ..., ...}], "cooldown_s": 30}."""
        args = dict(data)
        args["endpoints"] = tuple(EndpointConfig(**e) for e in args.get("endpoints", []))
        if "on_all_failed" in args:
            args["on_all_failed"] = FallbackPolicy(args["on_all_failed"])
        return cls(**args)
