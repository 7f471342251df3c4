"""The analysis domain's errors are mesh's (mesh/errors.py, plain Python like this package):
the error interceptor turns them into canonical statuses with an ErrorInfo reason. A caller's
bad value is `InvalidArgument.for_field`, raised where it is found; the two errors below
carry more than a message, and `BacktestCancelled` is control flow, not an error.
"""

from __future__ import annotations

from mesh.errors import FailedPrecondition, Unavailable


class NotEnoughCandles(FailedPrecondition):
    """Fewer candles than the indicators or strategy need to produce a value: the market has
    too little history yet, a state of the world rather than a bad argument."""

    def __init__(self, needed: int, got: int, what: str = "candles") -> None:
        super().__init__(
            f"{what} needs at least {needed} closed candles, got {got}",
            reason="NOT_ENOUGH_CANDLES",
            metadata={"needed": str(needed), "got": str(got)},
        )
        self.needed = needed
        self.got = got


class UnusableCandles(Unavailable):
    """The exchange's candles cannot be used (not numbers, NaN, out of order): the caller can
    only try again, and sees a fixed message; `detail` says what was wrong, for a backtest's
    error and the logs."""

    def __init__(self, detail: str) -> None:
        super().__init__("market data was unusable; try again", reason="CANDLES_INVALID")
        self.detail = detail


class BacktestCancelled(Exception):
    """Raised between chunks when the backtest's cancel flag is set; not a failure."""
