"""Backtests over the candle store, gRPC through Envoy: a million one-minute candles are allowed;
the first backtest of a range backfills it from the venue with GetBacktest's progress
moving meanwhile, the second makes no venue call and replays the same candles; memory stays
bounded by the range's columns (RSS of analysis_svc and trading_svc sampled while it runs,
compared with the size of the columns, never with a time)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from botmesh.analysis.v1 import analysis_service_pb2 as api
from botmesh.analysis.v1 import analysis_service_pb2_grpc as rpc
from google.protobuf import json_format

from cli.launcher import Mesh
from mesh.settings import Settings
from tests.e2e.test_analysis_rest import rfc3339

pytestmark = pytest.mark.usefixtures("exchange_sim")
MINUTE_S = 60
CANDLES = 1_000_000
COLUMN_BYTES = CANDLES * 6 * 8  # open time and five float64 values per candle: 48 MB
KLINES = "GET /api/v3/klines"


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def million_candles() -> dict[str, Any]:
    # Three years back, far from the ranges other tests read, so the first run is cold.
    end = (time.time() // MINUTE_S - 3 * 365 * 1440) * MINUTE_S
    return {
        "strategy": {"name": "ma_crossover", "params": {"fast": "9", "slow": "21"}},
        "market": "SOL-USDT",
        "timeframe": "1m",
        "start_time": rfc3339(end - CANDLES * MINUTE_S),
        "end_time": rfc3339(end),
        "initial_balance": "10000",
        "fee_rate": "0.001",
        "slippage_bps": 5,
    }


class Watched:
    def __init__(self) -> None:
        self.progress: list[float] = []
        self.peak = {"analysis_svc": 0, "trading_svc": 0}
        self.base: dict[str, int] = {}


async def run(
    envoy: str, key: str, body: dict[str, Any], pids: dict[str, int]
) -> tuple[api.Backtest, Watched]:
    """CreateBacktest, then GetBacktest every 0.1 s until it ends, sampling RSS meanwhile."""
    watched = Watched()
    watched.base = {name: rss_bytes(pid) for name, pid in pids.items()}
    request = json_format.ParseDict(body, api.CreateBacktestRequest())
    metadata = (("x-api-key", key), ("idempotency-key", uuid.uuid4().hex))
    async with grpc.aio.insecure_channel(envoy) as channel:
        stub = rpc.AnalysisServiceStub(channel)
        backtest = (await stub.CreateBacktest(request, metadata=metadata, timeout=30)).backtest
        while backtest.state == api.BACKTEST_STATE_RUNNING:
            for name, pid in pids.items():
                watched.peak[name] = max(watched.peak[name], rss_bytes(pid))
            await asyncio.sleep(0.1)
            get = api.GetBacktestRequest(backtest_id=backtest.backtest_id)
            backtest = (await stub.GetBacktest(get, metadata=metadata[:1], timeout=30)).backtest
            watched.progress.append(backtest.progress)
    return backtest, watched


async def test_a_million_candles_backfilled_once_with_progress_and_bounded_memory(
    settings: Settings,
    keys: dict[str, str],
    mesh: Mesh,
    exchange_sim: Any,
    rest: httpx.AsyncClient,
) -> None:
    envoy = f"127.0.0.1:{settings.envoy_port}"
    pids = {name: mesh.processes[name].pid for name in ("analysis_svc", "trading_svc")}
    requests = exchange_sim.simulator.requests
    body = million_candles()

    before = requests[KLINES]
    cold, watched = await run(envoy, keys["read"], body, pids)
    assert cold.state == api.BACKTEST_STATE_SUCCEEDED, cold.error
    assert requests[KLINES] - before >= CANDLES // 1000  # pages of at most 1,000
    # Progress moved while the range was backfilled, never back.
    assert watched.progress == sorted(watched.progress)
    backfilling = {p for p in watched.progress if 0 < p < 0.45}
    assert len(backfilling) >= 3, watched.progress
    # Memory: analysis_svc holds the range's columns and the replay's arrays, a few times
    # the columns at most; trading_svc streams the range and never holds it whole.
    grew = {name: watched.peak[name] - watched.base[name] for name in pids}
    assert grew["analysis_svc"] < 4 * COLUMN_BYTES, grew
    assert grew["trading_svc"] < COLUMN_BYTES, grew

    before = requests[KLINES]
    warm, watched = await run(envoy, keys["read"], body, pids)
    assert requests[KLINES] == before  # from the store: no venue call
    assert warm.state == api.BACKTEST_STATE_SUCCEEDED
    assert warm.metrics == cold.metrics and list(warm.trades) == list(cold.trades)
    assert cold.metrics.trade_count > 1_000

    # The largest answer there is (every trade a response carries) transcodes to REST whole.
    got = await rest.get(f"/v1/backtests/{cold.backtest_id}", headers={"x-api-key": keys["read"]})
    assert got.status_code == 200, got.text[:300]
    assert len(got.json()["backtest"]["trades"]) == len(cold.trades) == 2_000
    grew = {name: watched.peak[name] - watched.base[name] for name in pids}
    assert grew["analysis_svc"] < 4 * COLUMN_BYTES and grew["trading_svc"] < COLUMN_BYTES


async def test_more_than_a_million_candles_is_refused(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    body = million_candles()
    body["start_time"] = rfc3339(
        time.time() // MINUTE_S * MINUTE_S - (3 * 365 * 1440 + CANDLES + 1) * MINUTE_S
    )
    headers = {"x-api-key": keys["read"], "idempotency-key": uuid.uuid4().hex}
    refused = await rest.post("/v1/backtests", json=body, headers=headers)
    assert refused.status_code == 400
    assert "BACKTEST_RANGE_TOO_LONG" in refused.text
