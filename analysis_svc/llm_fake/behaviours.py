"""Scripted behaviours of the fake LLM: one per chat-completion call.

Every failure mode the advisor must survive has a constructor here, and each one
round-trips through JSON so a server in another process can be driven over HTTP.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How to answer one call: status, content or refusal, finish reason, delay."""

    status: int = 200
    content: str | None = None
    refusal: str | None = None
    finish_reason: str = "stop"
    delay_s: float = 0.0
    retry_after: float | None = None
    error_message: str = ""

    @classmethod
    def valid(
        cls, action: str = "HOLD", confidence: float = 0.5, rationale: str = "scripted answer"
    ) -> Behaviour:
        body = {"action": action, "confidence": confidence, "rationale": rationale}
        return cls(content=json.dumps(body))

    @classmethod
    def raw(cls, content: str, finish_reason: str = "stop") -> Behaviour:
        return cls(content=content, finish_reason=finish_reason)

    @classmethod
    def invalid_json(cls) -> Behaviour:
        return cls(content='{"action": "BUY", "confidence": ')

    @classmethod
    def schema_violation(
        cls, action: str = "YOLO", confidence: float = 7.0, rationale: str = "to the moon"
    ) -> Behaviour:
        return cls.valid(action, confidence, rationale)

    @classmethod
    def refusal_answer(cls, text: str = "I can't help with trading decisions.") -> Behaviour:
        return cls(refusal=text)

    @classmethod
    def content_filter(cls) -> Behaviour:
        return cls(content=None, finish_reason="content_filter")

    @classmethod
    def slow(cls, delay_s: float, then: Behaviour | None = None) -> Behaviour:
        return dataclasses.replace(then or cls.valid(), delay_s=delay_s)

    @classmethod
    def http_error(
        cls, status: int, retry_after: float | None = None, message: str = "scripted error"
    ) -> Behaviour:
        return cls(status=status, retry_after=retry_after, error_message=message)

    @classmethod
    def server_error(cls) -> Behaviour:
        return cls.http_error(500, message="internal error")

    @classmethod
    def rate_limited(cls, retry_after: float = 1.0) -> Behaviour:
        return cls.http_error(429, retry_after=retry_after, message="rate limited")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Behaviour:
        """Full field form ({"status": 500, ...}) or shorthand ({"kind": "valid", ...})."""
        args = dict(data)
        kind = args.pop("kind", None)
        if kind is None:
            return cls(**args)
        if "then" in args:
            args["then"] = cls.from_dict(args["then"])
        try:
            factory = _KINDS[str(kind)]
        except KeyError:
            raise ValueError(f"unknown behaviour kind {kind!r}") from None
        result = factory(**args)
        assert isinstance(result, Behaviour)
        return result


_KINDS: dict[str, Callable[..., Behaviour]] = {
    "valid": Behaviour.valid,
    "raw": Behaviour.raw,
    "invalid_json": Behaviour.invalid_json,
    "schema_violation": Behaviour.schema_violation,
    "refusal": Behaviour.refusal_answer,
    "content_filter": Behaviour.content_filter,
    "slow": Behaviour.slow,
    "http_error": Behaviour.http_error,
    "server_error": Behaviour.server_error,
    "rate_limited": Behaviour.rate_limited,
}
