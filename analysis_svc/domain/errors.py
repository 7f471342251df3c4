"""Domain errors of analysis_svc, free of grpc.

The service's error-mapping interceptor turns `InvalidParameter` (and subclasses) into
INVALID_ARGUMENT with an ErrorInfo `reason` and a BadRequest violation on `field`.
"""

from __future__ import annotations


class InvalidParameter(ValueError):
    """A caller-supplied value is unusable; `field` names it, `reason` is UPPER_SNAKE."""

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = reason
        self.message = message


class NotEnoughCandles(InvalidParameter):
    """Fewer candles than the indicators or strategy need to produce a value."""

    def __init__(self, needed: int, got: int, what: str = "candles") -> None:
        super().__init__(
            "candles",
            "NOT_ENOUGH_CANDLES",
            f"{what} needs at least {needed} closed candles, got {got}",
        )
        self.needed = needed
        self.got = got


class BacktestCancelled(Exception):
    """Raised between chunks when the backtest's cancel flag is set; not a failure."""


class DecisionCacheTimeout(TimeoutError):
    """Waited `wait_timeout_s` for another caller's computation without a result."""

    reason = "DECISION_CACHE_TIMEOUT"
