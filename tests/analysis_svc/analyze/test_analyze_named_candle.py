"""Analyze on a named candle (AnalyzeRequest.candle_time), as the bot runtime calls it: the
decision is on the candle that opened then, which must be aligned to the timeframe and closed
on the exchange by the exchange's own data; one computation per (market, strategy, candle)
however many callers ask, in however many processes.

Candles come from the running mesh's trading_svc (ListCandles over the run's exchange_sim at
real speed), and, for the fast clock, from a private exchange_sim whose clock runs ahead of
ours, read through ccxt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from analysis_svc.analyze.decision import OUTCOME_ADVISOR_NOT_REQUESTED
from analysis_svc.analyze.decision_cache import DEFAULT_REDIS_PREFIX
from analysis_svc.analyze.decision_store import DecisionStore
from analysis_svc.analyze.service import Analysis
from analysis_svc.candles.closed import REDIS_PREFIX, ClosedCandles, last_closed_open_ms
from analysis_svc.candles.source import CcxtCandleSource
from analysis_svc.tables import decisions
from exchange_sim import SimConfig, SimServer, start_sim
from mesh.errors import FailedPrecondition, InvalidArgument
from tests.analysis_svc.conftest import MakeAnalysis

MINUTE = 60_000
HOUR = 3_600_000
NS = 1_000_000  # nanoseconds per millisecond
# The fast venue's candles are cached under an exchange id of their own (the binance family's
# API, which exchange_sim speaks), apart from the run's exchange_sim ("binance").
FAST_EXCHANGE = "binanceus"


def now_ms() -> int:
    return time.time_ns() // NS


def computed() -> float:
    value = REGISTRY.get_sample_value(
        "botmesh_analysis_decisions_computed_total", {"outcome": OUTCOME_ADVISOR_NOT_REQUESTED}
    )
    return value or 0.0


async def rows_at(engine: AsyncEngine, market: str, candle_ms: int) -> int:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(decisions.c.candle_time).where(
                    decisions.c.market == market, decisions.c.strategy == "ma_crossover"
                )
            )
        ).all()
    return sum(1 for (t,) in rows if int(t.timestamp() * 1000) == candle_ms)


async def test_the_decision_is_on_the_named_candle_and_shared_with_the_unnamed_call(
    make_analysis: MakeAnalysis,
) -> None:
    analysis = await make_analysis()
    older = last_closed_open_ms("1h", now_ms()) - 5 * HOUR
    named = await analysis.analyze(
        market="SOL-USDT",
        timeframe="1h",
        strategy="ma_crossover",
        params={"fast": "8", "slow": "24"},
        use_advisor=False,
        candle_time_ns=older * NS,
    )
    assert named.decision.candle_time_ms == older
    assert named.cached is False

    # The latest closed candle, named or not, is one decision: the key is the candle.
    latest = last_closed_open_ms("1h", now_ms())
    unnamed = await analysis.analyze(
        market="SOL-USDT",
        timeframe="1h",
        strategy="ma_crossover",
        params={"fast": "8", "slow": "24"},
        use_advisor=False,
    )
    other = await make_analysis()  # another process
    by_name = await other.analyze(
        market="SOL-USDT",
        timeframe="1h",
        strategy="ma_crossover",
        params={"fast": "8", "slow": "24"},
        use_advisor=False,
        candle_time_ns=latest * NS,
    )
    assert unnamed.decision.candle_time_ms == latest == by_name.decision.candle_time_ms
    assert by_name.cached is True and by_name.decision == unnamed.decision
    assert named.decision != unnamed.decision  # another candle, another decision


async def test_a_candle_time_off_the_timeframe_grid_is_invalid(
    make_analysis: MakeAnalysis,
) -> None:
    analysis = await make_analysis()
    hour = last_closed_open_ms("1h", now_ms()) - 3 * HOUR
    for candle_time_ns in (
        (hour + 30 * MINUTE) * NS,  # a 1m candle, not a 1h one
        hour * NS + 1,  # a nanosecond past the open
        -HOUR * NS,  # before the epoch
    ):
        with pytest.raises(InvalidArgument) as bad:
            await analysis.analyze(
                market="BTC-USDT",
                timeframe="1h",
                strategy="ma_crossover",
                params={},
                use_advisor=False,
                candle_time_ns=candle_time_ns,
            )
        assert bad.value.reason == "INVALID_CANDLE_TIME"
        assert bad.value.metadata == {"field": "candle_time"}


async def test_a_candle_still_open_on_the_exchange_is_refused_and_nothing_is_cached(
    make_analysis: MakeAnalysis, redis: Redis, engine: AsyncEngine, recorder: DecisionStore
) -> None:
    analysis = await make_analysis()
    current = now_ms() // HOUR * HOUR  # open on exchange_sim (real speed) for the hour
    before = computed()
    decision_keys = {k async for k in redis.scan_iter(match=f"{DEFAULT_REDIS_PREFIX}*")}
    last_hour = 253_402_297_200_000  # 9999-12-31T23:00:00Z: closes past a Timestamp's range
    for open_ms in (current, current + 240 * HOUR, last_hour):
        for _ in range(2):  # asked again: refused again, nothing remembered
            with pytest.raises(FailedPrecondition) as open_candle:
                await analysis.analyze(
                    market="ETH-USDT",
                    timeframe="1h",
                    strategy="ma_crossover",
                    params={"fast": "6", "slow": "19"},
                    use_advisor=False,
                    candle_time_ns=open_ms * NS,
                )
            assert open_candle.value.reason == "CANDLE_NOT_CLOSED"
            assert open_candle.value.metadata["exchange"] == "binance"
        windows = [k async for k in redis.scan_iter(match=f"{REDIS_PREFIX}*:{open_ms}:*")]
        assert windows == []
    assert computed() == before
    assert {k async for k in redis.scan_iter(match=f"{DEFAULT_REDIS_PREFIX}*")} <= decision_keys
    await recorder.flush()
    assert await rows_at(engine, "ETH-USDT", current) == 0


async def test_a_thousand_callers_in_two_processes_cost_one_computation(
    make_analysis: MakeAnalysis, engine: AsyncEngine, recorder: DecisionStore
) -> None:
    processes = [await make_analysis(), await make_analysis()]
    candle = last_closed_open_ms("1m", now_ms()) - 7 * MINUTE
    before = computed()

    async def call(i: int) -> tuple[bool, int, str]:
        result = await processes[i % 2].analyze(
            market="BTC-USDT",
            timeframe="1m",
            strategy="ma_crossover",
            params={"fast": "11", "slow": "37"},
            use_advisor=False,
            key_id=f"bot-{i}",
            candle_time_ns=candle * NS,
        )
        return result.cached, result.decision.candle_time_ms, result.decision.to_bytes().decode()

    results = await asyncio.gather(*(call(i) for i in range(1_000)))
    assert computed() - before == 1
    assert sum(1 for cached, _, _ in results if not cached) == 1
    assert {t for _, t, _ in results} == {candle}
    assert len({body for _, _, body in results}) == 1
    await recorder.flush()
    assert await rows_at(engine, "BTC-USDT", candle) == 1


@dataclass
class FastVenue:
    analysis: Analysis
    sim: SimServer

    def now_ms(self) -> int:
        return int(self.sim.simulator.sim_ms())


@pytest.fixture
async def fast_venue(redis: Redis, recorder: DecisionStore) -> AsyncIterator[FastVenue]:
    """An exchange_sim an hour ahead of our clock and running 60 times faster (as
    `exchange_sim --speed 60` after a minute), and an Analysis reading it through ccxt."""
    sim = await start_sim(SimConfig(seed=7, speed=60.0, start_ms=now_ms() + HOUR))
    source = CcxtCandleSource("sim", sim.base_url)
    analysis = Analysis(ClosedCandles(source, redis), redis, recorder, None)
    yield FastVenue(analysis, sim)
    await analysis.aclose()
    await source.aclose()
    await sim.close()


async def test_a_venue_on_a_fast_clock_is_decided_on_its_own_candles(
    fast_venue: FastVenue,
) -> None:
    # Closed on the venue, yet an hour in our future: only the venue's data can tell.
    ahead = fast_venue.now_ms() // MINUTE * MINUTE - 5 * MINUTE
    assert ahead > now_ms()
    result = await fast_venue.analysis.analyze(
        market="ETH-USDT",
        timeframe="1m",
        strategy="ma_crossover",
        params={"fast": "5", "slow": "20"},
        use_advisor=False,
        exchange=FAST_EXCHANGE,
        candle_time_ns=ahead * NS,
    )
    assert result.decision.candle_time_ms == ahead
    assert result.decision.exchange == FAST_EXCHANGE
    # The venue's current hour stays open there for a minute of our time.
    venue_hour = fast_venue.now_ms() // HOUR * HOUR
    with pytest.raises(FailedPrecondition) as open_candle:
        await fast_venue.analysis.analyze(
            market="ETH-USDT",
            timeframe="1h",
            strategy="ma_crossover",
            params={"fast": "5", "slow": "20"},
            use_advisor=False,
            exchange=FAST_EXCHANGE,
            candle_time_ns=venue_hour * NS,
        )
    assert open_candle.value.reason == "CANDLE_NOT_CLOSED"
