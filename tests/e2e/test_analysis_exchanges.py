"""Analysis per (exchange, market), through Envoy: a request may name the exchange whose
candles it reads (a ccxt id; none means the default, binance). Here binanceus is driven by
ccxt's own binanceus class against exchange_sim, through trading_svc's ListCandles.

An exchange ccxt does not know, or one whose class cannot serve candles, is refused before
any fetch with FAILED_PRECONDITION (400 over REST) naming what it lacks.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.e2e.test_analysis_rest import ANALYZE, backtest_body, h
from tests.e2e.test_bots_rest import assert_error

pytestmark = pytest.mark.usefixtures("exchange_sim")


async def test_decisions_are_kept_per_exchange(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    body = {**ANALYZE, "market": "SOL-USDT"}
    default = await rest.post("/v1/analysis:analyze", json=body, headers=h(keys["read"]))
    assert default.status_code == 200, default.text
    named = {**body, "exchange": "binance"}
    same = await rest.post("/v1/analysis:analyze", json=named, headers=h(keys["read"]))
    assert same.status_code == 200 and same.json()["cached"] is True  # "" means binance

    other = {**body, "exchange": "binanceus"}
    first = await rest.post("/v1/analysis:analyze", json=other, headers=h(keys["read"]))
    assert first.status_code == 200, first.text
    assert first.json()["cached"] is False  # another exchange's candle: its own decision
    again = await rest.post("/v1/analysis:analyze", json=other, headers=h(keys["read"]))
    assert again.json()["cached"] is True

    indicators = await rest.get(
        "/v1/markets/SOL-USDT/indicators",
        params={"timeframe": "1h", "exchange": "binanceus"},
        headers=h(keys["read"]),
    )
    assert indicators.status_code == 200, indicators.text
    assert indicators.json()["indicators"]


async def test_a_backtest_replays_the_exchange_it_names(
    rest: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    body = {**backtest_body(hours=120), "exchange": "binanceus"}
    created = await rest.post("/v1/backtests", json=body, headers=h(keys["read"], True))
    assert created.status_code == 200, created.text
    backtest = created.json()["backtest"]
    assert backtest["exchange"] == "binanceus"
    for _ in range(100):
        got = await rest.get(f"/v1/backtests/{backtest['backtest_id']}", headers=h(keys["read"]))
        backtest = got.json()["backtest"]
        if backtest["state"] != "BACKTEST_STATE_RUNNING":
            break
        await asyncio.sleep(0.1)
    assert backtest["state"] == "BACKTEST_STATE_SUCCEEDED", backtest
    assert backtest["exchange"] == "binanceus"

    unnamed = await rest.post(
        "/v1/backtests", json=backtest_body(120), headers=h(keys["read"], True)
    )
    assert unnamed.json()["backtest"]["exchange"] == "binance"  # the default, recorded


@pytest.mark.parametrize(
    ("exchange", "reason", "missing"),
    [
        ("nosuchvenue", "EXCHANGE_UNSUPPORTED", None),
        ("bitflyer", "EXCHANGE_LACKS_CAPABILITY", "fetchOHLCV"),
        # kraken has all market data calls, but this mesh's venue is exchange_sim, which
        # speaks only the binance family's API: refused by name, not answered as an outage.
        ("kraken", "EXCHANGE_NOT_ON_VENUE", None),
    ],
)
async def test_an_exchange_that_cannot_serve_candles_is_refused_by_name(
    rest: httpx.AsyncClient, keys: dict[str, str], exchange: str, reason: str, missing: str | None
) -> None:
    analyze = await rest.post(
        "/v1/analysis:analyze", json={**ANALYZE, "exchange": exchange}, headers=h(keys["read"])
    )
    body = assert_error(analyze, 400, reason=reason)
    info = next(d for d in body["details"] if d["@type"].endswith("ErrorInfo"))
    assert info["metadata"]["exchange"] == exchange
    if missing is not None:
        assert info["metadata"]["missing"] == missing and missing in body["message"]
    backtest = await rest.post(
        "/v1/backtests",
        json={**backtest_body(120), "exchange": exchange},
        headers=h(keys["read"], True),
    )
    assert_error(backtest, 400, reason=reason)

    malformed = await rest.post(
        "/v1/analysis:analyze", json={**ANALYZE, "exchange": "Bin ance"}, headers=h(keys["read"])
    )
    assert_error(malformed, 400, field="exchange")
