"""Backtests as use cases: validation before any row exists, the asynchronous lifecycle
with progress in the table, cancellation, and ownership by API key."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from analysis_svc.backtests.runner import BacktestRunner
from analysis_svc.backtests.service import BacktestRequest, Backtests
from analysis_svc.backtests.store import BacktestRow, BacktestStore
from analysis_svc.candles.closed import last_closed_open_ms
from analysis_svc.candles.source import CandleSource
from analysis_svc.candles.steps import MarketSteps
from analysis_svc.domain.backtest import BacktestSettings, run_backtest
from analysis_svc.domain.strategies import resolve_strategy
from analysis_svc.tables import backtests as backtests_table
from mesh.errors import FailedPrecondition, InvalidArgument, NotFound
from mesh.settings import Settings
from quant.sizing import Stake

HOUR = 3_600_000


@pytest.fixture
async def backtests(
    candle_source: CandleSource, redis: Redis, engine: AsyncEngine, settings: Settings
) -> AsyncIterator[Backtests]:
    """Wired as server.py wires them: market steps from the run's exchange_sim."""
    runner = BacktestRunner(BacktestStore(engine), candle_source, redis)
    steps = MarketSteps("sim", settings.exchange_sim_url)
    yield Backtests(BacktestStore(engine), runner, redis, steps=steps)
    await runner.shutdown()
    await steps.aclose()


def request(hours: int = 500, **changes: object) -> BacktestRequest:
    end = last_closed_open_ms("1h", time.time_ns() // 1_000_000) + HOUR
    values: dict[str, object] = {
        "strategy": "ma_crossover",
        "params": {"fast": "5", "slow": "20"},
        "market": "BTC-USDT",
        "timeframe": "1h",
        "start_ms": end - hours * HOUR,
        "end_ms": end,
        "initial_balance": "10000",
        "fee_rate": "0.001",
        "slippage_bps": 5,
    }
    values.update(changes)
    return BacktestRequest(**values)  # type: ignore[arg-type]


async def wait_done(backtests: Backtests, key: str, backtest_id: str) -> list[BacktestRow]:
    seen = []
    for _ in range(200):
        row = await backtests.get(key, backtest_id)
        seen.append(row)
        if row.state != "RUNNING":
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"backtest still running: {seen[-1]}")


async def test_a_backtest_runs_to_the_same_result_as_the_engine(
    backtests: Backtests, venue_source: CandleSource
) -> None:
    req = request()
    created = await backtests.create("key_a", req)
    assert (created.state, created.api_key_id) == ("RUNNING", "key_a")
    rows = await wait_done(backtests, "key_a", created.backtest_id)
    done = rows[-1]
    assert done.state == "SUCCEEDED", done.error
    assert done.progress == 1.0 and done.complete_time is not None
    assert done.result is not None

    # The reference reads the venue directly: ListCandles must hand over the same candles.
    candles = await venue_source.candles("binance", "BTC-USDT", "1h", req.start_ms, req.end_ms - 1)
    expected = run_backtest(
        candles,
        resolve_strategy("ma_crossover", req.params),
        BacktestSettings.from_wire("10000", "0.001", 5, periods_per_year=365 * 24),
    )
    metrics = done.result["metrics"]
    assert done.result["candle_count"] == len(candles) == 500
    assert metrics["trade_count"] == len(expected.trades) == len(done.result["trades"])
    assert metrics["total_return"] == pytest.approx(expected.metrics.total_return)
    assert metrics["sharpe"] == pytest.approx(expected.metrics.sharpe)
    assert float(metrics["final_equity"]) == pytest.approx(expected.final_equity, rel=1e-9)
    curve = done.result["equity_curve"]
    assert 2 <= len(curve) <= 500 and curve[0][0] == req.start_ms


async def test_another_key_sees_nothing(backtests: Backtests) -> None:
    created = await backtests.create("key_a", request(hours=100))
    with pytest.raises(NotFound):
        await backtests.get("key_b", created.backtest_id)
    with pytest.raises(NotFound):
        await backtests.cancel("key_b", created.backtest_id)
    await wait_done(backtests, "key_a", created.backtest_id)


async def test_cancel_stops_a_run_and_a_finished_one_cannot_be_canceled(
    backtests: Backtests,
) -> None:
    # 90,000 one-minute candles: about a hundred exchange pages, long enough to cancel.
    end = last_closed_open_ms("1m", time.time_ns() // 1_000_000)
    long = request(timeframe="1m", start_ms=end - 90_000 * 60_000, end_ms=end)
    created = await backtests.create("key_a", long)
    await asyncio.sleep(0.3)
    canceled = await backtests.cancel("key_a", created.backtest_id)
    assert canceled.state == "CANCELED" and canceled.result is None
    again = await backtests.cancel("key_a", created.backtest_id)  # repeated: same answer
    assert again.state == "CANCELED"
    # The run stops at its next checkpoint (the next page of candles); on a loaded machine
    # that may take a while, so wait for it rather than for a fixed time.
    for _ in range(200):
        if not backtests._runner.is_local(created.backtest_id):
            break
        await asyncio.sleep(0.05)
    assert not backtests._runner.is_local(created.backtest_id)  # the run stopped
    assert (await backtests.get("key_a", created.backtest_id)).state == "CANCELED"

    short = await backtests.create("key_a", request(hours=60))
    await wait_done(backtests, "key_a", short.backtest_id)
    with pytest.raises(FailedPrecondition) as finished:
        await backtests.cancel("key_a", short.backtest_id)
    assert finished.value.reason == "BACKTEST_FINISHED"


async def test_a_fixed_stake_takes_the_markets_step_from_the_exchange_filters(
    backtests: Backtests, venue_source: CandleSource
) -> None:
    """No amount_step given: BTC-USDT's LOT_SIZE step on the exchange (0.00001 on
    exchange_sim) truncates every amount; the row keeps the step it used."""
    req = request(stake_fixed_quote="100")
    created = await backtests.create("key_a", req)
    assert created.request["amount_step"] == "0.00001"
    done = (await wait_done(backtests, "key_a", created.backtest_id))[-1]
    assert done.state == "SUCCEEDED", done.error
    assert done.result is not None
    trades = done.result["trades"]
    assert trades
    for trade in trades:
        assert Decimal(trade["quantity"]) % Decimal("0.00001") == 0
        assert Decimal(trade["quantity"]) * Decimal(trade["entry_price"]) <= Decimal("100")

    candles = await venue_source.candles("binance", "BTC-USDT", "1h", req.start_ms, req.end_ms - 1)
    expected = run_backtest(
        candles,
        resolve_strategy("ma_crossover", req.params),
        BacktestSettings.from_wire(
            "10000",
            "0.001",
            5,
            periods_per_year=365 * 24,
            stake=Stake(fixed_quote=Decimal("100")),
            amount_step=Decimal("0.00001"),
        ),
    )
    metrics = done.result["metrics"]
    assert Decimal(metrics["profit_quote"]) == expected.profit_quote.quantize(Decimal("1e-8"))
    assert float(metrics["final_equity"]) == pytest.approx(10000 + float(expected.profit_quote))


async def test_a_fraction_with_a_given_step_keeps_that_step(backtests: Backtests) -> None:
    created = await backtests.create(
        "key_a", request(hours=200, stake_fraction="0.5", amount_step="0.001")
    )
    assert (created.request["stake_fraction"], created.request["amount_step"]) == ("0.5", "0.001")
    done = (await wait_done(backtests, "key_a", created.backtest_id))[-1]
    assert done.state == "SUCCEEDED", done.error
    assert done.result is not None
    first = done.result["trades"][0]
    assert Decimal(first["quantity"]) % Decimal("0.001") == 0
    # Half the balance, truncated: at most 5000 of cost.
    assert Decimal(first["quantity"]) * Decimal(first["entry_price"]) <= Decimal("5000")


async def test_without_a_stake_the_whole_balance_is_untruncated(backtests: Backtests) -> None:
    created = await backtests.create("key_a", request(hours=100))
    assert created.request["amount_step"] == ""  # no market lookup for the default


async def test_a_stake_on_a_market_the_exchange_does_not_list_is_refused(
    backtests: Backtests,
) -> None:
    with pytest.raises(FailedPrecondition) as unknown:
        await backtests.create("key_a", request(market="NOPE-USDT", stake_fixed_quote="100"))
    assert unknown.value.reason == "MARKET_UNKNOWN"


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"stake_fixed_quote": "10000"}, "stake.fixed_quote", "INVALID_BACKTEST_PARAMETER"),
        ({"stake_fixed_quote": "-1"}, "stake.fixed_quote", "INVALID_BACKTEST_PARAMETER"),
        (
            {"stake_fixed_quote": "100", "stake_fraction": "0.5"},
            "stake.fixed_quote",
            "INVALID_BACKTEST_PARAMETER",
        ),
        ({"stake_fraction": "1.5"}, "stake.allocation_fraction", "INVALID_BACKTEST_PARAMETER"),
        ({"stake_fraction": "x"}, "stake.allocation_fraction", "INVALID_BACKTEST_PARAMETER"),
        ({"amount_step": "0"}, "amount_step", "INVALID_BACKTEST_PARAMETER"),
        ({"params": {"fast": "0"}}, "strategy.params.fast", "INVALID_STRATEGY_PARAMETER"),
        ({"strategy": "martingale"}, "strategy.name", "UNKNOWN_STRATEGY"),
        ({"initial_balance": "-5"}, "initial_balance", "INVALID_BACKTEST_PARAMETER"),
        ({"fee_rate": "0.5"}, "fee_rate", "INVALID_BACKTEST_PARAMETER"),
        ({"end_ms": 0}, "end_time", "INVALID_TIME_RANGE"),
        ({"start_ms": 0, "timeframe": "1m"}, "end_time", "BACKTEST_RANGE_TOO_LONG"),
        ({"start_ms": 2**42}, "end_time", "INVALID_TIME_RANGE"),
    ],
)
async def test_invalid_requests_name_the_field(
    backtests: Backtests, changes: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(InvalidArgument) as bad:
        await backtests.create("key_a", request(**changes))
    assert (bad.value.metadata["field"], bad.value.reason) == (field, reason)


async def test_a_range_too_short_for_the_strategy_is_refused(backtests: Backtests) -> None:
    with pytest.raises(InvalidArgument) as short:
        await backtests.create("key_a", request(hours=10))
    assert short.value.metadata["field"] == "start_time"
    assert short.value.reason == "BACKTEST_RANGE_TOO_SHORT"
    assert "needs at least 21" in short.value.message


async def test_a_backtest_whose_process_died_ends_failed(
    backtests: Backtests, engine: AsyncEngine
) -> None:
    """A RUNNING row with no live lease (its process was killed) is failed when read,
    instead of answering RUNNING forever."""
    store = BacktestStore(engine)
    await store.insert("bt_orphan_1", "key_a", "", request().to_json())
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(backtests_table)
            .where(backtests_table.c.backtest_id == "bt_orphan_1")
            .values(create_time=datetime.now(UTC) - timedelta(minutes=5))
        )
    row = await backtests.get("key_a", "bt_orphan_1")
    assert row.state == "FAILED" and "stopped" in row.error
