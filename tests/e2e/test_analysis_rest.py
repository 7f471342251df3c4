"""AnalysisService over REST through Envoy: what the marketplace and dashboards call.

The mesh's analysis_svc reads candles from the mesh's trading_svc (ListCandles), whose venue
is this run's exchange_sim (the `exchange_sim` fixture), and runs without an LLM (the
default): advisor "none".
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.e2e.test_bots_rest import assert_error

pytestmark = pytest.mark.usefixtures("exchange_sim")
HOUR_S = 3600
ANALYZE = {
    "market": "BTC-USDT",
    "timeframe": "1h",
    "strategy": {"name": "ma_crossover", "params": {"fast": "9", "slow": "21"}},
}


def h(key: str, idempotent: bool = False) -> dict[str, str]:
    headers = {"x-api-key": key}
    if idempotent:
        headers["idempotency-key"] = uuid.uuid4().hex
    return headers


def rfc3339(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def backtest_body(hours: int = 300, timeframe: str = "1h", step_s: int = HOUR_S) -> dict[str, Any]:
    end = time.time() // step_s * step_s
    return {
        "strategy": {"name": "ma_crossover", "params": {"fast": "5", "slow": "20"}},
        "market": "ETH-USDT",
        "timeframe": timeframe,
        "start_time": rfc3339(end - hours * step_s),
        "end_time": rfc3339(end),
        "initial_balance": "10000",
        "fee_rate": "0.001",
        "slippage_bps": 5,
    }


async def test_analyze_with_a_read_key(rest: httpx.AsyncClient, keys: dict[str, str]) -> None:
    resp = await rest.post("/v1/analysis:analyze", json=ANALYZE, headers=h(keys["read"]))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["signal"]["action"] in {
        "SIGNAL_ACTION_BUY",
        "SIGNAL_ACTION_SELL",
        "SIGNAL_ACTION_HOLD",
    }
    assert body["signal"] == body["strategy_signal"] and body["advisor"] == "none"
    assert {i["name"] for i in body["indicators"]} == {"sma_9", "sma_21", "close"}
    candle = datetime.fromisoformat(body["candle_time"].replace("Z", "+00:00"))
    assert candle.minute == 0 and time.time() - candle.timestamp() < 2 * HOUR_S + 5

    # This mesh has no LLM configured: asking for the advisor answers without it.
    advised = await rest.post(
        "/v1/analysis:analyze", json={**ANALYZE, "use_advisor": True}, headers=h(keys["read"])
    )
    assert advised.status_code == 200 and advised.json()["advisor"] == "none"

    again = await rest.post("/v1/analysis:analyze", json=ANALYZE, headers=h(keys["marketplace"]))
    assert again.status_code == 200 and again.json()["cached"] is True
    assert {k: v for k, v in again.json().items() if k != "cached"} == {
        k: v for k, v in body.items() if k != "cached"
    }


async def test_bad_strategy_parameters_are_a_400_naming_them(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    body = {**ANALYZE, "strategy": {"name": "ma_crossover", "params": {"fast": "1"}}}
    resp = await rest.post("/v1/analysis:analyze", json=body, headers=h(keys["read"]))
    assert_error(resp, 400, reason="INVALID_STRATEGY_PARAMETER", field="strategy.params.fast")
    unknown = {**ANALYZE, "strategy": {"name": "ma_crossover", "params": {"speed": "3"}}}
    resp = await rest.post("/v1/analysis:analyze", json=unknown, headers=h(keys["read"]))
    assert_error(resp, 400, field="strategy.params.speed")
    resp = await rest.post("/v1/analysis:analyze", json=ANALYZE)
    assert_error(resp, 401, reason="API_KEY_MISSING")


async def test_indicators_of_a_market(rest: httpx.AsyncClient, keys: dict[str, str]) -> None:
    resp = await rest.get(
        "/v1/markets/SOL-USDT/indicators", params={"timeframe": "1h"}, headers=h(keys["read"])
    )
    assert resp.status_code == 200, resp.text
    values = {i["name"]: i["value"] for i in resp.json()["indicators"]}
    assert 0 <= values["rsi_14"] <= 100
    assert values["bb_lower"] <= values["bb_middle"] <= values["bb_upper"]
    missing = await rest.get(
        "/v1/markets/DOGE-USDT/indicators", params={"timeframe": "1h"}, headers=h(keys["read"])
    )
    assert_error(missing, 404, reason="MARKET_NOT_FOUND")


async def test_backtest_lifecycle(rest: httpx.AsyncClient, keys: dict[str, str]) -> None:
    created = await rest.post(
        "/v1/backtests", json=backtest_body(), headers=h(keys["read"], idempotent=True)
    )
    assert created.status_code == 200, created.text
    backtest = created.json()["backtest"]
    assert backtest["state"] == "BACKTEST_STATE_RUNNING"
    backtest_id = backtest["backtest_id"]

    for _ in range(100):
        got = await rest.get(f"/v1/backtests/{backtest_id}", headers=h(keys["read"]))
        assert got.status_code == 200, got.text
        backtest = got.json()["backtest"]
        if backtest["state"] != "BACKTEST_STATE_RUNNING":
            break
        await asyncio.sleep(0.1)
    assert backtest["state"] == "BACKTEST_STATE_SUCCEEDED", backtest
    assert backtest["progress"] == 1
    metrics = backtest["metrics"]
    assert {"total_return", "max_drawdown", "trade_count", "final_equity"} <= set(metrics)
    assert int(metrics["trade_count"]) == len(backtest["trades"]) > 0
    trade = backtest["trades"][0]
    assert float(trade["entry_price"]) > 0 and trade["exit_time"] >= trade["entry_time"]
    assert 2 <= len(backtest["equity_curve"]) <= 500

    other = await rest.get(f"/v1/backtests/{backtest_id}", headers=h(keys["marketplace"]))
    assert_error(other, 404, reason="BACKTEST_NOT_FOUND")
    finished = await rest.post(
        f"/v1/backtests/{backtest_id}:cancel", json={}, headers=h(keys["read"], idempotent=True)
    )
    assert_error(finished, 400, reason="BACKTEST_FINISHED")


async def test_a_staked_backtest_echoes_its_stake_and_the_markets_step(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    """A fixed stake without amount_step: ETH-USDT's step from the exchange's filters
    (0.0001 on exchange_sim), echoed with the stake; profit_quote beside total_return."""
    body = {**backtest_body(), "stake": {"fixed_quote": "250"}}
    created = await rest.post("/v1/backtests", json=body, headers=h(keys["read"], True))
    assert created.status_code == 200, created.text
    backtest = created.json()["backtest"]
    assert backtest["stake"] == {"fixed_quote": "250"}
    assert backtest["amount_step"] == "0.0001"
    for _ in range(100):
        got = await rest.get(f"/v1/backtests/{backtest['backtest_id']}", headers=h(keys["read"]))
        backtest = got.json()["backtest"]
        if backtest["state"] != "BACKTEST_STATE_RUNNING":
            break
        await asyncio.sleep(0.1)
    assert backtest["state"] == "BACKTEST_STATE_SUCCEEDED", backtest
    assert (backtest["stake"], backtest["amount_step"]) == ({"fixed_quote": "250"}, "0.0001")
    metrics = backtest["metrics"]
    profit = float(metrics["profit_quote"])
    assert profit == pytest.approx(float(metrics["final_equity"]) - 10000, abs=1e-6)
    assert metrics.get("total_return", 0) == pytest.approx(profit / 10000)
    for trade in backtest["trades"]:
        assert float(trade["quantity"]) * float(trade["entry_price"]) <= 250


async def test_a_canceled_backtest_answers_canceled(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    body = backtest_body(hours=90_000, timeframe="1m", step_s=60)  # ~90 exchange pages
    created = await rest.post("/v1/backtests", json=body, headers=h(keys["read"], True))
    assert created.status_code == 200, created.text
    backtest_id = created.json()["backtest"]["backtest_id"]
    canceled = await rest.post(
        f"/v1/backtests/{backtest_id}:cancel", json={}, headers=h(keys["read"], True)
    )
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["backtest"]["state"] == "BACKTEST_STATE_CANCELED"
    await asyncio.sleep(1)
    got = await rest.get(f"/v1/backtests/{backtest_id}", headers=h(keys["read"]))
    assert got.json()["backtest"]["state"] == "BACKTEST_STATE_CANCELED"


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        (
            {"strategy": {"name": "ma_crossover", "params": {"slow": "9999"}}},
            "strategy.params.slow",
            "INVALID_STRATEGY_PARAMETER",
        ),
        ({"initial_balance": "lots"}, "initial_balance", None),
        ({"fee_rate": "0.9"}, "fee_rate", "INVALID_BACKTEST_PARAMETER"),
        ({"end_time": "2020-01-01T00:00:00Z"}, "end_time", "INVALID_TIME_RANGE"),
        ({"start_time": "1800-01-01T00:00:00Z"}, "end_time", "BACKTEST_RANGE_TOO_LONG"),
        ({"market": "BTC/USDT"}, "market", None),
        ({"stake": {"allocation_fraction": "1.5"}}, "stake.allocation_fraction", None),
        ({"stake": {"fixed_quote": "10000"}}, "stake.fixed_quote", "INVALID_BACKTEST_PARAMETER"),
        ({"amount_step": "-1"}, "amount_step", None),
    ],
)
async def test_an_invalid_backtest_is_a_clear_400(
    rest: httpx.AsyncClient,
    keys: dict[str, str],
    changes: dict[str, Any],
    field: str,
    reason: str | None,
) -> None:
    body = {**backtest_body(), **changes}
    resp = await rest.post("/v1/backtests", json=body, headers=h(keys["read"], True))
    assert_error(resp, 400, reason=reason, field=field)
