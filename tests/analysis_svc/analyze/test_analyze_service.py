"""Analyze and GetIndicators as use cases, on exchange_sim's candles (read through trading_svc's
ListCandles), Redis and MariaDB."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from analysis_svc.analyze.decision_store import DecisionStore
from analysis_svc.analyze.service import INDICATOR_PREFIX
from analysis_svc.candles.closed import (
    REDIS_PREFIX,
    last_closed_open_ms,
    pack,
    unpack,
    window_for,
)
from analysis_svc.domain.indicator_set import compute_indicators
from analysis_svc.domain.synthetic import random_walk_candles
from analysis_svc.tables import decisions
from mesh.errors import InvalidArgument, NotFound
from tests.analysis_svc.conftest import MakeAnalysis

TF = "1h"  # a boundary an hour apart: two calls in a test see the same closed candle


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def test_closed_candle_windows_are_shared_and_never_include_the_open_candle() -> None:
    hour = 3_600_000
    at = 1_800_000_000_000 // hour * hour  # an hour boundary
    assert last_closed_open_ms("1h", at + 10 * 60_000) == at - hour
    assert last_closed_open_ms("1h", at + 500) == at - 2 * hour  # within the close grace
    assert [window_for(n) for n in (50, 300, 301, 600, 601, 1001)] == [
        300,
        300,
        600,
        600,
        1000,
        2000,
    ]


def test_candles_round_trip_through_the_redis_encoding() -> None:
    candles = random_walk_candles(300, seed=1)
    back = unpack(pack(candles))
    assert back.time_ms.tolist() == candles.time_ms.tolist()
    for col in ("open", "high", "low", "close", "volume"):
        assert getattr(back, col).tolist() == getattr(candles, col).tolist()


async def test_analyze_decides_once_per_candle_and_records_it(
    make_analysis: MakeAnalysis, redis: Redis, engine: AsyncEngine, recorder: DecisionStore
) -> None:
    analysis = await make_analysis()
    expected = last_closed_open_ms(TF, now_ms())
    first = await analysis.analyze(
        market="BTC-USDT",
        timeframe=TF,
        strategy="ma_crossover",
        params={"fast": "9"},
        use_advisor=False,
    )
    decision = first.decision
    assert decision.candle_time_ms == expected
    assert decision.advisor == "none"
    assert decision.signal == decision.strategy_signal
    assert {"sma_9", "sma_30", "close"} == set(decision.indicators)
    assert first.cached is False

    again = await analysis.analyze(
        market="BTC-USDT",
        timeframe=TF,
        strategy="ma_crossover",
        params={"fast": "9.0"},
        use_advisor=False,
    )
    assert again.cached is True and again.decision == decision  # "9.0" is the same parameter

    # Another process: a fresh Analysis shares the decision through Redis.
    other = await make_analysis()
    shared = await other.analyze(
        market="BTC-USDT",
        timeframe=TF,
        strategy="ma_crossover",
        params={"fast": "9"},
        use_advisor=False,
    )
    assert shared.cached is True and shared.decision == decision

    await recorder.flush()
    async with engine.connect() as conn:
        rows = (
            (
                await conn.execute(
                    sa.select(decisions).where(
                        decisions.c.market == "BTC-USDT",
                        decisions.c.strategy == "ma_crossover",
                        decisions.c.timeframe == TF,
                        decisions.c.advisor == "none",
                    )
                )
            )
            .mappings()
            .all()
        )
    assert len(rows) == 1
    assert rows[0]["action"] == decision.signal.action.value
    recorder.record(rows[0]["cache_key"], decision)  # recomputed after expiry: first row stays
    await recorder.flush()
    async with engine.connect() as conn:
        count = await conn.scalar(
            sa.select(sa.func.count()).where(decisions.c.cache_key == rows[0]["cache_key"])
        )
    assert count == 1
    assert rows[0]["candle_time"].timestamp() * 1000 == decision.candle_time_ms

    window = [k async for k in redis.scan_iter(match=f"{REDIS_PREFIX}binance:BTC-USDT:{TF}:*")]
    assert window, "the closed-candle window is shared in Redis"


async def test_bad_strategy_parameters_name_the_parameter(make_analysis: MakeAnalysis) -> None:
    analysis = await make_analysis()
    with pytest.raises(InvalidArgument) as bad:
        await analysis.analyze(
            market="BTC-USDT",
            timeframe=TF,
            strategy="ma_crossover",
            params={"fast": "50", "slow": "20"},
            use_advisor=False,
        )
    assert bad.value.metadata["field"].startswith("strategy.params.")
    with pytest.raises(InvalidArgument) as typo:
        await analysis.analyze(
            market="BTC-USDT",
            timeframe=TF,
            strategy="ma_crossover",
            params={"fsat": "9"},
            use_advisor=False,
        )
    assert typo.value.metadata["field"] == "strategy.params.fsat"
    assert typo.value.reason == "INVALID_STRATEGY_PARAMETER"
    with pytest.raises(InvalidArgument) as unknown:
        await analysis.analyze(
            market="BTC-USDT", timeframe=TF, strategy="astrology", params={}, use_advisor=False
        )
    assert unknown.value.metadata["field"] == "strategy.name"


async def test_an_unlisted_market_is_not_found(make_analysis: MakeAnalysis) -> None:
    analysis = await make_analysis()
    with pytest.raises(NotFound) as missing:
        await analysis.analyze(
            market="DOGE-USDT",
            timeframe=TF,
            strategy="rsi_mean_reversion",
            params={},
            use_advisor=False,
        )
    assert missing.value.reason == "MARKET_NOT_FOUND"


async def test_indicators_match_talib_on_the_same_candles_and_are_cached(
    make_analysis: MakeAnalysis, redis: Redis
) -> None:
    analysis = await make_analysis()
    result = await analysis.indicators(market="ETH-USDT", timeframe=TF)
    assert result.candle_time_ms == last_closed_open_ms(TF, now_ms())
    key = f"{INDICATOR_PREFIX}binance:ETH-USDT:{TF}:{result.candle_time_ms}"
    assert await redis.exists(key)
    raw = await redis.get(f"{REDIS_PREFIX}binance:ETH-USDT:{TF}:{result.candle_time_ms}:300")
    assert raw is not None
    reference = compute_indicators(unpack(raw)).latest
    assert result.values == pytest.approx(reference)
    assert {"rsi_14", "macd_hist", "bb_upper", "atr_14", "sma_50"} <= set(result.values)
