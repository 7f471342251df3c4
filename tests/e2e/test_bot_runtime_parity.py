"""Backtest/live parity: the same strategy run live on exchange_sim and backtested over the
same candles makes the same decisions.

A quick crossover bot (fixed stake, the same sizing code as backtests) trades live on a
private mesh whose exchange_sim runs at 60x, started two hours in the past so its candles
stay behind our clock (a backtest replays only candles our clock calls closed). Its
decisions are read over REST (ListDecisions), then CreateBacktest replays the same candles
with the same stake, fee and amount step, starting just early enough that its first
possible signal falls on the live bot's first candle. For every candle of the live window,
the bot's effective action (BUY when it placed a buy, SELL when it placed a sell, else HOLD)
is compared with the backtest's (an entry or exit at the next candle's open): at least 95 %
are identical. Fill prices differ (live orders fill at the moment's price, backtests at the
next open); decisions do not.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.e2e.private_mesh import PrivateMeshes
from tests.e2e.runtime_support import (
    QUICK_BOT,
    RUNTIME_ENV,
    SIM_SPEED,
    eventually,
    keys_of,
    rent_quick_bot,
)

CANDLES = 45
MINUTE = timedelta(minutes=1)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


async def _decisions(rest: httpx.AsyncClient, headers: dict[str, str], sid: str) -> list[Any]:
    found: list[Any] = []
    token = ""
    while True:
        resp = await rest.get(
            f"/v1/subscriptions/{sid}/decisions",
            params={"page_size": 200, "page_token": token},
            headers=headers,
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        found.extend(body.get("decisions", []))
        token = body.get("next_page_token", "")
        if not token:
            return found


def _live_action(decision: dict[str, Any]) -> str:
    if decision.get("outcome") != "ORDER_PLACED":
        return "HOLD"
    return "BUY" if decision.get("side") == "buy" else "SELL"


async def test_live_decisions_match_a_backtest_of_the_same_candles(
    private_meshes: PrivateMeshes,
) -> None:
    mesh = private_meshes.start(
        sim_speed=SIM_SPEED, env={**RUNTIME_ENV, "BOTMESH_SIM_START_BEHIND_S": "7200"}
    )
    keys = await keys_of(mesh)
    async with httpx.AsyncClient(base_url=mesh.rest_url, timeout=30) as rest:
        renter, sid = await rent_quick_bot(rest, mesh, keys)
        h = renter.headers

        async def enough() -> list[Any]:
            rows = await _decisions(rest, h, sid)
            return rows if len(rows) >= CANDLES else []

        await eventually(enough, f"{CANDLES} live decisions", timeout_s=120)
        paused = await rest.post(f"/v1/subscriptions/{sid}:pause", json={}, headers=h)
        assert paused.status_code == 200, paused.text
        await asyncio.sleep(2)  # ticks in flight finish
        decided = sorted(await _decisions(rest, h, sid), key=lambda d: d["candle_time"])
        live = {
            _time(d["candle_time"]): _live_action(d)
            for d in decided
            if d.get("outcome") != "SKIPPED"
        }
        first, last = min(live), max(live)
        params = QUICK_BOT["strategy_params"]
        warmup = int(params["slow"])  # the crossover's first signal needs slow + 1 candles
        backtest = await rest.post(
            "/v1/backtests",
            json={
                "strategy": {"name": "ma_crossover", "params": params},
                "market": "BTC-USDT",
                "timeframe": "1m",
                "start_time": (first - warmup * MINUTE).isoformat().replace("+00:00", "Z"),
                "end_time": (last + 2 * MINUTE).isoformat().replace("+00:00", "Z"),
                "initial_balance": "250",
                "fee_rate": "0.001",
                "stake": QUICK_BOT["stake"],
            },
            headers={"x-api-key": keys["read"]},
        )
        assert backtest.status_code == 200, backtest.text
        backtest_id = backtest.json()["backtest"]["backtest_id"]

        async def finished() -> dict[str, Any] | None:
            got = await rest.get(
                f"/v1/backtests/{backtest_id}", headers={"x-api-key": keys["read"]}
            )
            body: dict[str, Any] = got.json()["backtest"]
            return body if body["state"] != "BACKTEST_STATE_RUNNING" else None

        result = await eventually(finished, "the backtest")
        assert result["state"] == "BACKTEST_STATE_SUCCEEDED", result
    replayed: dict[datetime, str] = {}
    for trade in result.get("trades", []):
        replayed[_time(trade["entry_time"]) - MINUTE] = "BUY"
        exit_time = _time(trade["exit_time"])
        if exit_time <= last:  # not the forced exit at the data's end
            replayed[exit_time - MINUTE] = "SELL"
    candles = sorted(live)
    same = sum(live[t] == replayed.get(t, "HOLD") for t in candles)
    acted = [t for t in candles if live[t] != "HOLD" or replayed.get(t, "HOLD") != "HOLD"]
    differences = [
        (t.isoformat(), live[t], replayed.get(t, "HOLD"))
        for t in acted
        if live[t] != replayed.get(t, "HOLD")
    ]
    print(
        f"parity: {same}/{len(candles)} candles identical; {len(acted)} with an action; "
        f"differences {differences}"
    )
    assert len(candles) >= CANDLES - 2
    assert any(a != "HOLD" for a in live.values()), "the bot traded live"
    assert same / len(candles) >= 0.95, differences
