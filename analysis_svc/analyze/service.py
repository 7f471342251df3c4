"""Analyze and GetIndicators: the use cases behind AnalysisService's read RPCs.

Analyze is called by every bot on every candle close, so its answer is computed once per
(exchange, market, timeframe, candle, strategy and parameters, advisor chain, prompt version)
across the cluster (a Redis single-flight), and then served from this process's memory: a
decision for a key never changes, because the key names the candle it was made on.

The candle is the one the caller names (the bot runtime names its tick's), which must be
closed on the exchange by the exchange's own data (candles/closed.py `named`), or, unnamed,
the latest closed by our clock. Either way the key is the candle, so a named call and an
unnamed one on the same candle share the decision.

Computations that would consult the advisor are charged to the caller's API key
(analysis_svc/advisor/budget.py). Past the budget the caller gets the strategy's own signal
(advisor "skipped:budget"); that answer is never shared or cached, so it cannot stand in for
an advised decision another caller is entitled to.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from redis.asyncio import Redis

from analysis_svc.advisor.budget import AdvisorBudget
from analysis_svc.advisor.chain import Advisor
from analysis_svc.analyze.decision import Decision, analyze, decision_key_for
from analysis_svc.analyze.decision_cache import redis_key, single_flight
from analysis_svc.analyze.decision_store import DecisionStore
from analysis_svc.candles.closed import DEFAULT_WINDOW, ClosedCandles, aligned_open_ms
from analysis_svc.candles.venue import DEFAULT_EXCHANGES, CandleExchanges
from analysis_svc.coalesce import InFlight
from analysis_svc.domain.advisor import AdvisorOutcome
from analysis_svc.domain.indicator_set import RECOMMENDED_INDICATOR_CANDLES, compute_indicators
from analysis_svc.domain.strategies import resolve_strategy
from analysis_svc.metrics import (
    DECISIONS_COMPUTED,
    SERVED_COMPUTED,
    SERVED_LOCAL,
    SERVED_SHARED,
)
from mesh.redis import BestEffortCache
from quant.periods import TIMEFRAME_MS

INDICATOR_PREFIX = "botmesh:analysis:indicators:"
_LOCAL_DECISIONS = 4096


@dataclass(frozen=True, slots=True)
class AnalyzeResult:
    decision: Decision
    cached: bool


class _NotShared(Exception):
    """Carries a decision out of the single-flight without storing it (budget spent)."""

    def __init__(self, decision: Decision) -> None:
        super().__init__("advisor budget spent")
        self.decision = decision


@dataclass(frozen=True, slots=True)
class IndicatorsResult:
    candle_time_ms: int
    values: dict[str, float]


class Analysis:
    def __init__(
        self,
        candles: ClosedCandles,
        redis: Redis,
        decisions: DecisionStore,
        advisor: Advisor | None,
        budget: AdvisorBudget | None = None,
        *,
        exchanges: CandleExchanges = DEFAULT_EXCHANGES,
    ) -> None:
        self._exchanges = exchanges
        self._candles = candles
        self._redis = redis
        self._cache = BestEffortCache(redis, "indicators")
        self._decisions = decisions
        self._advisor = advisor
        self._budget = budget or AdvisorBudget(redis)
        self._local: OrderedDict[str, bytes] = OrderedDict()
        self._inflight: InFlight[str, tuple[bytes, bool]] = InFlight()
        # The holder of a decision's lock may take every endpoint's timeout, plus margin.
        chain_s = sum(e.timeout_s for e in advisor.config.endpoints) if advisor else 0.0
        self._lock_ttl_s = chain_s + 10.0
        self._wait_s = self._lock_ttl_s + 5.0

    async def analyze(
        self,
        *,
        market: str,
        timeframe: str,
        strategy: str,
        params: Mapping[str, str],
        use_advisor: bool,
        key_id: str = "internal",
        exchange: str = "",
        candle_time_ns: int | None = None,
    ) -> AnalyzeResult:
        """The decision on the candle of `market` on `exchange` ("" for the default one)
        opening at `candle_time_ns` (aligned to the timeframe and closed on the exchange,
        else INVALID_CANDLE_TIME / CANDLE_NOT_CLOSED), or on the latest closed one when
        None. Without a configured chain, use_advisor answers as if unset (advisor "none"):
        bots keep trading on deployments without LLM. `key_id` is who pays for advisor
        calls."""
        bound = resolve_strategy(strategy, params)
        advisor = self._advisor if use_advisor else None
        exchange = self._exchanges.resolve(exchange)
        needed = bound.recommended_candles
        if candle_time_ns is None:
            candles = await self._candles.latest(exchange, market, timeframe, needed)
        else:
            open_ms = aligned_open_ms(timeframe, candle_time_ns)
            candles = await self._candles.named(exchange, market, timeframe, needed, open_ms)
        key = decision_key_for(
            exchange=exchange,
            market=market,
            timeframe=timeframe,
            candles=candles,
            strategy=bound,
            advisor=advisor,
        )
        local = self._local.get(key)
        if local is not None:
            SERVED_LOCAL.inc()
            return AnalyzeResult(Decision.from_bytes(local), True)

        async def permit() -> bool:
            assert advisor is not None
            return await self._budget.charge(
                key_id=key_id,
                chain=advisor.identity(),
                exchange=exchange,
                market=market,
                timeframe=timeframe,
                candle_time_ms=int(candles.time_ms[-1]),
            )

        async def compute() -> bytes:
            decision = await analyze(
                candles,
                bound,
                exchange=exchange,
                market=market,
                timeframe=timeframe,
                advisor=advisor,
                permit=permit,
            )
            if decision.outcome == AdvisorOutcome.SKIPPED_BUDGET:
                raise _NotShared(decision)
            self._decisions.record(key, decision)
            DECISIONS_COMPUTED.labels(decision.outcome).inc()
            return decision.to_bytes()

        async def across_cluster() -> tuple[bytes, bool]:
            return await single_flight(
                self._redis,
                redis_key(key),
                compute,
                ttl_s=TIMEFRAME_MS[timeframe] / 1000 + 60,
                lock_ttl_s=self._lock_ttl_s,
                wait_timeout_s=self._wait_s,
            )

        try:
            (raw, cached), led = await self._inflight.run(key, across_cluster)
        except _NotShared as skipped:
            DECISIONS_COMPUTED.labels(skipped.decision.outcome).inc()
            return AnalyzeResult(skipped.decision, False)
        self._remember(key, raw)
        # Only the one caller whose task computed the decision reports cached=false.
        cached = cached or not led
        (SERVED_SHARED if cached else SERVED_COMPUTED).inc()
        return AnalyzeResult(Decision.from_bytes(raw), cached)

    async def indicators(
        self, *, market: str, timeframe: str, exchange: str = ""
    ) -> IndicatorsResult:
        """The default indicator set on the latest closed candle, cached per closed candle
        in Redis: every process and caller shares one computation per candle."""
        exchange = self._exchanges.resolve(exchange)
        last_open = self._candles.last_closed_open_ms(timeframe)
        key = f"{INDICATOR_PREFIX}{exchange}:{market}:{timeframe}:{last_open}"
        raw = await self._cache.get(key)  # None while Redis is down
        if raw is not None:
            data = json.loads(raw)
            return IndicatorsResult(int(data["candle_time_ms"]), dict(data["values"]))
        needed = max(RECOMMENDED_INDICATOR_CANDLES, DEFAULT_WINDOW)
        candles = await self._candles.latest(exchange, market, timeframe, needed)
        snapshot = compute_indicators(candles)
        values = {k: v for k, v in snapshot.latest.items() if math.isfinite(v)}
        result = IndicatorsResult(snapshot.candle_time_ms, values)
        if snapshot.candle_time_ms == last_open:  # a lagging exchange's answer is not cached
            body = json.dumps({"candle_time_ms": result.candle_time_ms, "values": values})
            await self._cache.set(key, body, px=TIMEFRAME_MS[timeframe] + 60_000)
        return result

    def _remember(self, key: str, raw: bytes) -> None:
        self._local[key] = raw
        while len(self._local) > _LOCAL_DECISIONS:
            self._local.popitem(last=False)

    async def aclose(self) -> None:
        if self._advisor is not None:
            await self._advisor.aclose()
