"""Fault injection rules, evaluated per request by the HTTP layer.

Clients of an exchange must survive the ways a real one misbehaves: slowness, 5xx, Binance's
-1007 "execution status unknown", a response lost after the order was accepted, and a
connection that never answers.  Rules select requests by method/path/API key and fire either
with a (seedable, hence reproducible) probability or for the next N matching requests.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple


class FaultKind(StrEnum):
    """What happens to a request a rule fires on."""

    LATENCY = "latency"  # answer normally, but ``latency_ms`` later
    HTTP_5XX = "http_5xx"  # plain-text ``status`` (default 503) answer
    TIMEOUT_1007 = "timeout_1007"  # HTTP 408 {"code": -1007, ...}
    DROP = "drop_response"  # close the connection without an answer
    HANG = "hang"  # never answer (until ``hang_ms`` or shutdown), then drop


# Whether the request is really processed (e.g. the order placed) before the fault answers.
_DEFAULT_EXECUTE = {
    FaultKind.LATENCY: True,
    FaultKind.HTTP_5XX: False,
    FaultKind.TIMEOUT_1007: False,
    FaultKind.DROP: True,
    FaultKind.HANG: False,
}


def _opt_str(spec: Mapping[str, Any], key: str) -> str | None:
    value = spec.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


def _num(spec: Mapping[str, Any], key: str, default: float) -> float:
    value = spec.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{key} must be a number")
    return float(value)


@dataclass
class FaultRule:
    """One fault rule; ``matched``/``fired`` are counters readable through the admin API."""

    id: int
    kind: FaultKind
    method: str | None = None
    path: str | None = None  # exact path, or a prefix when it ends with "*"
    api_key: str | None = None
    probability: float = 1.0
    seed: int | None = None
    remaining: int | None = None  # "next N requests"; None = unlimited
    latency_ms: int = 0
    status: int = 503
    execute: bool = False
    hang_ms: int = 60_000
    matched: int = 0
    fired: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def from_spec(cls, rule_id: int, spec: Mapping[str, Any]) -> FaultRule:
        """Validate an admin JSON spec (see README) into a rule; ValueError if malformed."""
        try:
            kind = FaultKind(str(spec.get("kind", "")))
        except ValueError as exc:
            raise ValueError(f"kind must be one of {[k.value for k in FaultKind]}") from exc
        probability = _num(spec, "probability", 1.0)
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        remaining = None if spec.get("count") is None else int(_num(spec, "count", 0))
        if remaining is not None and remaining < 0:
            raise ValueError("count must be >= 0")
        status = int(_num(spec, "status", 503))
        if not 500 <= status <= 599:
            raise ValueError("status must be a 5xx code")
        seed = spec.get("seed")
        execute = spec.get("execute")
        method = _opt_str(spec, "method")
        return cls(
            id=rule_id,
            kind=kind,
            method=method.upper() if method else None,
            path=_opt_str(spec, "path"),
            api_key=_opt_str(spec, "api_key"),
            probability=probability,
            seed=None if seed is None else int(seed),
            remaining=remaining,
            latency_ms=int(_num(spec, "latency_ms", 0)),
            status=status,
            execute=_DEFAULT_EXECUTE[kind] if execute is None else bool(execute),
            hang_ms=int(_num(spec, "hang_ms", 60_000)),
            _rng=random.Random(None if seed is None else int(seed)),
        )

    def matches(self, method: str, path: str, api_key: str | None) -> bool:
        """Does this rule select the request (ignoring probability and count)?"""
        if self.method and self.method != method:
            return False
        if self.api_key and self.api_key != api_key:
            return False
        if self.path:
            if self.path.endswith("*"):
                return path.startswith(self.path[:-1])
            return path == self.path
        return True

    def roll(self) -> bool:
        """Count a matching request and decide (reproducibly, if seeded) whether to fire."""
        if self.remaining == 0:
            return False
        self.matched += 1
        if self.probability < 1.0 and self._rng.random() >= self.probability:
            return False
        self.fired += 1
        if self.remaining is not None:
            self.remaining -= 1
        return True

    def to_json(self) -> dict[str, Any]:
        """Admin view of the rule and its counters."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "method": self.method,
            "path": self.path,
            "api_key": self.api_key,
            "probability": self.probability,
            "seed": self.seed,
            "remaining": self.remaining,
            "latency_ms": self.latency_ms,
            "status": self.status,
            "execute": self.execute,
            "hang_ms": self.hang_ms,
            "matched": self.matched,
            "fired": self.fired,
        }


class FaultPlan(NamedTuple):
    """What to do with one request: extra latency, and at most one disruptive outcome."""

    latency_ms: int
    outcome: FaultRule | None


class FaultInjector:
    """The ordered rule list; rules are evaluated in insertion order."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._next_id = 1

    def add(self, spec: Mapping[str, Any]) -> FaultRule:
        """Add a rule from its admin JSON spec."""
        rule = FaultRule.from_spec(self._next_id, spec)
        self._next_id += 1
        self._rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> bool:
        """Delete one rule; False if unknown."""
        before = len(self._rules)
        self._rules = [r for r in self._rules if r.id != rule_id]
        return len(self._rules) != before

    def clear(self) -> None:
        """Delete all rules."""
        self._rules.clear()

    def rules(self) -> list[FaultRule]:
        """All rules with their counters."""
        return list(self._rules)

    def evaluate(self, method: str, path: str, api_key: str | None) -> FaultPlan:
        """Roll every matching rule: latencies add up, the first disruptive one wins."""
        latency = 0
        outcome: FaultRule | None = None
        for rule in self._rules:
            if not rule.matches(method, path, api_key):
                continue
            if rule.kind is FaultKind.LATENCY:
                if rule.roll():
                    latency += rule.latency_ms
            elif outcome is None and rule.roll():
                outcome = rule
                latency += rule.latency_ms  # e.g. "-1007 after 2 s"
        return FaultPlan(latency, outcome)
