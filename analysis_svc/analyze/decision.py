"""Analyze, minus the transport: run a strategy on a closed candle, optionally
ask the advisor, and package a cacheable Decision.

The use case's flow (analyze/service.py): fetch closed candles -> `resolve_strategy` -> `decision_key_for`
-> `single_flight(redis, redis_key(key), lambda: analyze(...) as bytes, ...)` ->
`Decision.from_bytes`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from analysis_svc.advisor.chain import Advisor
from analysis_svc.analyze.decision_cache import decision_cache_key
from analysis_svc.domain.advisor import PROMPT_VERSION, AdvisorContext
from analysis_svc.domain.advisor.result import (
    ADVISOR_NONE,
    ADVISOR_SKIPPED_BUDGET,
    AdvisorOutcome,
)
from analysis_svc.domain.candles import Candles
from analysis_svc.domain.errors import NotEnoughCandles
from analysis_svc.domain.signal import Signal
from analysis_svc.domain.strategies import BoundStrategy
from mesh.errors import InvalidArgument
from quant.periods import TIMEFRAME_MS

OUTCOME_ADVISOR_NOT_REQUESTED = "ADVISOR_NOT_REQUESTED"


@dataclass(frozen=True, slots=True)
class Decision:
    """An Analyze answer for one candle; what the decision cache stores."""

    exchange: str
    market: str
    timeframe: str
    candle_time_ms: int  # open time of the analysed candle (named, or the latest closed)
    strategy: str
    strategy_params: str
    signal: Signal  # final, after the advisor and clamps
    strategy_signal: Signal  # the strategy's own
    advisor: str  # endpoint name, "none", "fallback:strategy", "fallback:hold", "skipped:budget"
    outcome: str  # AdvisorOutcome value or ADVISOR_NOT_REQUESTED
    prompt_version: str  # "" when the advisor was not consulted

    @property
    def indicators(self) -> dict[str, float]:
        """The indicator values the strategy decided on (AnalyzeResponse.indicators)."""
        return dict(self.strategy_signal.indicators)

    def to_bytes(self) -> bytes:
        data: dict[str, Any] = {
            "exchange": self.exchange,
            "market": self.market,
            "timeframe": self.timeframe,
            "candle_time_ms": self.candle_time_ms,
            "strategy": self.strategy,
            "strategy_params": self.strategy_params,
            "signal": self.signal.to_json_dict(),
            "strategy_signal": self.strategy_signal.to_json_dict(),
            "advisor": self.advisor,
            "outcome": self.outcome,
            "prompt_version": self.prompt_version,
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Decision:
        data = json.loads(raw)
        return cls(
            exchange=data["exchange"],
            market=data["market"],
            timeframe=data["timeframe"],
            candle_time_ms=int(data["candle_time_ms"]),
            strategy=data["strategy"],
            strategy_params=data["strategy_params"],
            signal=Signal.from_json_dict(data["signal"]),
            strategy_signal=Signal.from_json_dict(data["strategy_signal"]),
            advisor=data["advisor"],
            outcome=data["outcome"],
            prompt_version=data["prompt_version"],
        )


async def analyze(
    candles: Candles,
    strategy: BoundStrategy,
    *,
    exchange: str,
    market: str,
    timeframe: str,
    advisor: Advisor | None = None,
    permit: Callable[[], Awaitable[bool]] | None = None,
) -> Decision:
    """Strategy signal on the last candle of `candles` (all closed), reviewed by `advisor`
    when given. `permit` is asked once, only when the advisor would call an endpoint: if it
    refuses, the strategy's own signal is the answer (advisor "skipped:budget"), not an
    error. Raises NotEnoughCandles/InvalidArgument; never an advisor error."""
    strategy_signal = strategy.signal(candles)
    candle_time_ms = int(candles.time_ms[-1])
    params = strategy.canonical_params()
    if (
        advisor is not None
        and permit is not None
        and advisor.would_call(strategy_signal)
        and not await permit()
    ):
        return Decision(
            exchange,
            market,
            timeframe,
            candle_time_ms,
            strategy.name,
            params,
            strategy_signal,
            strategy_signal,
            ADVISOR_SKIPPED_BUDGET,
            AdvisorOutcome.SKIPPED_BUDGET.value,
            "",
        )
    if advisor is None:
        return Decision(
            exchange,
            market,
            timeframe,
            candle_time_ms,
            strategy.name,
            params,
            strategy_signal,
            strategy_signal,
            ADVISOR_NONE,
            OUTCOME_ADVISOR_NOT_REQUESTED,
            "",
        )
    context = AdvisorContext(market, timeframe, candle_time_ms, strategy.name, params)
    result = await advisor.advise(context, strategy_signal)
    return Decision(
        exchange,
        market,
        timeframe,
        candle_time_ms,
        strategy.name,
        params,
        result.signal,
        strategy_signal,
        result.advisor,
        result.outcome.value,
        result.prompt_version,
    )


def decision_key_for(
    *,
    exchange: str,
    market: str,
    timeframe: str,
    candles: Candles,
    strategy: BoundStrategy,
    advisor: Advisor | None,
) -> str:
    """The decision cache key of analysing the last candle of `candles`."""
    if len(candles) == 0:
        raise NotEnoughCandles(strategy.min_candles, 0, f"strategy {strategy.name}")
    try:
        close_ms = int(candles.time_ms[-1]) + TIMEFRAME_MS[timeframe]
    except KeyError:
        raise InvalidArgument.for_field(
            "timeframe", timeframe, reason="INVALID_TIMEFRAME"
        ) from None
    return decision_cache_key(
        exchange=exchange,
        market=market,
        timeframe=timeframe,
        candle_close_time_ms=close_ms,
        strategy_name=strategy.name,
        strategy_params=strategy.canonical_params(),
        advisor_identity=advisor.identity() if advisor is not None else ADVISOR_NONE,
        prompt_version=PROMPT_VERSION if advisor is not None else "",
    )
